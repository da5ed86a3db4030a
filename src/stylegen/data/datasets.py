"""Image datasets for training and metrics: a folder or .zip of images, or arrays held in memory.

The interface follows the dataset class of StyleGAN2-ADA (Karras et al., 2020, "Training Generative
Adversarial Networks with Limited Data") so that training code written for it feels at home:
`dataset[i]` is `(image, label)` with `image` a uint8 numpy array [C, H, W] and `label` a float32
array ([label_dim], one-hot for class labels, or shape [0] when labels are off); `xflip=True`
doubles the length with mirrored copies; `max_size` keeps a random subset chosen by `random_seed`.

Labels come from `dataset.json` in the official layout `{"labels": [["dir/img.png", 3], ...]}`
(`labels="json"`) or from the name of each image's top-level sub-folder (`labels="folders"`).

`ImageSource` (folder or zip listing and reading) and `pil_to_uint8` are shared with `prepare.py`.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from stylegen.errors import UserError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
LABEL_SOURCES = ("json", "folders")
LABELS_FILE = "dataset.json"
# Most classes (and longest label vector) a dataset may have. The largest class-conditional sets
# in use (ImageNet-21k: 21,841 classes) fit with room to spare; beyond this a stray value such as
# 3000000000 would make the conditioning layer allocate gigabytes (labels are kept as indices).
MAX_CLASSES = 100_000

# Pillow modes holding one grey channel; every other mode becomes RGB (alpha is dropped).
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_WIDE_GRAY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

# Errors Pillow raises on files it cannot parse or that end early.
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@contextmanager
def bombs_are_errors() -> Iterator[None]:
    """Turn Pillow's decompression-bomb warning (more than Image.MAX_IMAGE_PIXELS pixels) into an
    error, so that a huge image is reported as a bad file instead of being decoded (or failing
    later with a traceback)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def describe_decode_error(e: BaseException) -> str:
    """Why Pillow could not read an image, in words."""
    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"too many pixels to decode safely: {e}"
    return str(e)


def uniform_hint(path: str | os.PathLike, resolution: int | str = "N") -> str:
    """The fix we suggest whenever images are not uniform square power-of-two images."""
    return (
        f"run `stylegen dataset --source {path} --dest out.zip --resolution {resolution}` "
        "to make them uniform"
    )


def is_power_of_two_resolution(res: int) -> bool:
    """StyleGAN synthesis doubles resolution from 4x4, so sizes must be 4, 8, 16, ..."""
    return res >= 4 and (res & (res - 1)) == 0


def channels_of_mode(mode: str) -> int:
    """Number of channels a Pillow mode becomes in a dataset: 1 for grey, 3 for everything else."""
    return 1 if mode in GRAY_MODES else 3


def pil_to_uint8(img: Image.Image, num_channels: int) -> np.ndarray:
    """Convert a Pillow image to uint8 [H, W, C] with C = num_channels (1 or 3).

    16-bit and float grey images are scaled to 8 bits instead of clipped (Pillow's convert('L')
    would clip 16-bit values); alpha is dropped.
    """
    if img.mode in _WIDE_GRAY_MODES:
        arr = np.asarray(img, dtype=np.float64)
        if img.mode != "F":
            arr = arr / 257.0  # 65535 -> 255
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)[:, :, None]
        return gray if num_channels == 1 else np.repeat(gray, 3, axis=2)
    target = "L" if num_channels == 1 else "RGB"
    arr = np.asarray(img.convert(target), dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


class BadImageError(Exception):
    """An image file that cannot be read; the message says why."""


def _sniff_format(head: bytes) -> str | None:
    """Container format from the first bytes, for the formats whose end we can check."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _tail_is_complete(fp: Any) -> tuple[str | None, bool]:
    """(format, whether the file is complete): a cheap check that needs no pixel decoding.

    PNG ends with an IEND chunk, JPEG with an EOI marker (FF D9, which cannot occur inside
    entropy-coded data), and a WebP RIFF header states the file length. Only the first 12 bytes
    and the last 4 KiB are read, so a folder of large photos is scanned quickly.
    """
    head = fp.read(12)
    fmt = _sniff_format(head)
    size = fp.seek(0, os.SEEK_END)
    if fmt == "WEBP":
        return fmt, size >= int.from_bytes(head[4:8], "little") + 8
    if fmt is None:
        return fmt, True
    window = min(size, 4096)
    fp.seek(size - window)
    tail = fp.read(window)
    return fmt, (b"IEND" in tail) if fmt == "PNG" else (b"\xff\xd9" in tail)


def _probe(fp: Any) -> tuple[tuple[int, int], str]:
    """Check an image's end and read its header: ((width, height), mode) or raise BadImageError."""
    fmt, complete = _tail_is_complete(fp)
    if not complete:
        raise BadImageError(f"truncated {fmt} file")
    fp.seek(0)
    try:
        with bombs_are_errors(), Image.open(fp) as img:
            return img.size, img.mode
    except DECODE_ERRORS as e:
        raise BadImageError(f"not a readable image ({describe_decode_error(e)})") from e


def _is_listed_image(name: str) -> bool:
    """Image files by extension, skipping hidden files and macOS resource forks in zips."""
    parts = name.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return name.lower().endswith(IMAGE_EXTENSIONS)


class ImageSource:
    """A folder (searched recursively) or a .zip of images, addressed by relative POSIX names.

    The zip handle is opened lazily and dropped when pickled, so DataLoader workers each open their
    own (a zipfile object cannot be shared between processes).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise UserError(
                f"dataset path '{self.path}' does not exist: give a folder or .zip of images"
            )
        self.is_zip = self.path.is_file()
        if self.is_zip and not zipfile.is_zipfile(self.path):
            raise UserError(
                f"dataset path '{self.path}' is neither a folder nor a .zip archive: "
                "give a folder or .zip of .png/.jpg/.webp images"
            )
        self._zip: zipfile.ZipFile | None = None
        self._all_names = self._list_all()

    def _list_all(self) -> list[str]:
        if self.is_zip:
            try:
                infos = [i for i in self._zipfile().infolist() if not i.is_dir()]
            except (zipfile.BadZipFile, ValueError, EOFError) as e:
                raise UserError(f"dataset '{self.path}' is a damaged .zip ({e}): repack it") from e
            encrypted = [i.filename for i in infos if i.flag_bits & 0x1]
            if encrypted:
                raise UserError(
                    f"dataset '{self.path}' is an encrypted (password-protected) .zip "
                    f"({len(encrypted)} encrypted file(s), first: '{encrypted[0]}'); stylegen "
                    "cannot read those: unzip it with the password and pass the folder"
                )
            return sorted(i.filename for i in infos)
        names = []
        for root, dirs, files in os.walk(self.path, followlinks=True):
            dirs.sort()
            rel_root = Path(root).relative_to(self.path)
            names.extend((rel_root / f).as_posix() for f in files)
        return sorted(n.removeprefix("./") for n in names)

    def _zipfile(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def image_names(self) -> list[str]:
        """Sorted relative names of every image file."""
        return [n for n in self._all_names if _is_listed_image(n)]

    def has(self, name: str) -> bool:
        return name in self._all_names

    def open_file(self, name: str) -> Any:
        """A seekable binary file object for one member.

        A member that zipfile cannot unpack (an unsupported compression method such as Deflate64,
        or encryption) raises OSError, as other unreadable files do.
        """
        if self.is_zip:
            try:
                return io.BytesIO(self._zipfile().read(name))
            except (RuntimeError, NotImplementedError) as e:
                raise OSError(f"cannot unpack '{self.describe(name)}' ({e})") from e
        return open(self.path / name, "rb")  # noqa: SIM115 (callers close it)

    def read_json(self, name: str) -> Any:
        try:
            with self.open_file(name) as f:
                return json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(
                f"'{self.describe(name)}' is not valid JSON ({e}): fix or remove it"
            ) from e
        except (OSError, zipfile.BadZipFile) as e:
            raise UserError(f"cannot read '{self.describe(name)}' ({e}): fix or remove it") from e

    def probe(self, name: str) -> tuple[tuple[int, int], str]:
        """((width, height), mode) of an image without decoding it; raises BadImageError."""
        try:
            with self.open_file(name) as f:
                return _probe(f)
        except (OSError, zipfile.BadZipFile) as e:
            raise BadImageError(f"cannot read file ({e})") from e

    def load(self, name: str) -> Image.Image:
        """Fully decode one image; raises BadImageError."""
        try:
            with self.open_file(name) as f, bombs_are_errors():
                img = Image.open(f)
                img.load()
                return img
        except (*DECODE_ERRORS, zipfile.BadZipFile) as e:
            raise BadImageError(f"cannot decode image ({describe_decode_error(e)})") from e

    def describe(self, name: str) -> str:
        """How to name a member in messages: path/to/folder/name or archive.zip:name."""
        return f"{self.path}:{name}" if self.is_zip else str(self.path / name)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None}


def scan_images(
    source: ImageSource, names: list[str], *, skip_bad: bool, decode: bool = False
) -> tuple[list[str], list[tuple[int, int]], list[str], list[str]]:
    """Probe every image: (good names, their sizes, their modes, bad names).

    Without skip_bad the first bad file raises a UserError naming it; with skip_bad bad files are
    returned separately and the caller reports how many were skipped. decode=True decodes every
    image fully instead of checking its header and end, which also finds broken pixel data.
    """
    good, sizes, modes, bad = [], [], [], []
    for name in names:
        try:
            if decode:
                with source.load(name) as img:
                    size, mode = img.size, img.mode
            else:
                size, mode = source.probe(name)
        except BadImageError as e:
            if not skip_bad:
                raise UserError(
                    f"bad image '{source.describe(name)}': {e}; "
                    "delete it, or skip bad files with skip_bad=True (--skip-bad)"
                ) from e
            bad.append(name)
            continue
        good.append(name)
        sizes.append(size)
        modes.append(mode)
    return good, sizes, modes, bad


def json_labels(source: ImageSource, names: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """Labels for `names` from dataset.json: int64 [N] class indices or float32 [N, D] vectors."""
    where = source.describe(LABELS_FILE)
    fix = (
        f'add {LABELS_FILE} as {{"labels": [["dir/img.png", 3], ...]}}, '
        "use labels='folders', or turn labels off"
    )
    if not source.has(LABELS_FILE):
        raise UserError(f"labels were requested but '{source.path}' has no {LABELS_FILE}: {fix}")
    meta = source.read_json(LABELS_FILE)
    entries = meta.get("labels") if isinstance(meta, dict) else None
    if entries is None:
        raise UserError(f"labels were requested but '{where}' has no labels (null): {fix}")
    if not isinstance(entries, list):
        raise UserError(f"'{where}' labels must be a list of [name, label] pairs: {fix}")
    table: dict[str, Any] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise UserError(
                f"'{where}' labels must be a list of [name, label] pairs, found {_short(entry)}: "
                f"{fix}"
            )
        fname = entry[0].replace("\\", "/")
        if fname in table and table[fname] != entry[1]:
            raise UserError(
                f"'{where}' gives '{fname}' two labels ({_short(table[fname])} and "
                f"{_short(entry[1])}): keep one"
            )
        table[fname] = entry[1]
    missing = [n for n in names if n not in table]
    if missing:
        raise UserError(
            f"labels were requested but {len(missing)} image(s) have no entry in '{where}' "
            f"(first: '{missing[0]}'): add them or turn labels off"
        )
    labels = _checked_labels([(n, table[n]) for n in names], where)
    class_names = meta.get("class_names")
    if not (isinstance(class_names, list) and all(isinstance(c, str) for c in class_names)):
        class_names = None
    if class_names is not None and len(class_names) > MAX_CLASSES:
        raise UserError(
            f"'{where}' lists {len(class_names)} class_names; stylegen allows at most "
            f"{MAX_CLASSES} classes: fix or remove class_names"
        )
    if class_names is not None and labels.ndim == 1 and len(class_names) <= labels.max():
        class_names = None  # inconsistent names are ignored rather than trusted
    return labels, class_names


def _short(value: Any) -> str:
    """A JSON value for a message, cut to a readable length."""
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def _is_number(x: Any) -> bool:
    """A JSON number that is not a boolean (in Python, True is an int)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _checked_labels(pairs: list[tuple[str, Any]], where: str) -> np.ndarray:
    """Labels of (name, value) pairs as int64 class indices [N] or float32 vectors [N, D].

    Every value is checked before any array is made: a class index is an integer (3 or 3.0) from
    0 to MAX_CLASSES - 1 (the one-hot matrix and the conditioning layer grow with the largest
    index); a vector is a list of finite numbers, all of one length of at most MAX_CLASSES.
    Booleans, NaN, infinities, strings and nulls are refused, naming the file, image and value.
    """

    def bad(name: str, value: Any, why: str) -> UserError:
        return UserError(
            f"'{where}' label of '{name}' is {_short(value)}: {why}; labels are class indices "
            f"0..{MAX_CLASSES - 1} or equal-length lists of finite numbers"
        )

    first_name, first = pairs[0]
    vector = isinstance(first, list)
    if vector and not 1 <= len(first) <= MAX_CLASSES:
        raise bad(first_name, first, f"a label vector needs 1 to {MAX_CLASSES} numbers")
    out = []
    for name, value in pairs:
        if vector:
            if not isinstance(value, list):
                raise bad(name, value, f"expected a list of {len(first)} numbers like the others")
            if len(value) != len(first):
                raise bad(
                    name,
                    value,
                    f"{len(value)} numbers, but '{first_name}' has {len(first)}; all need the "
                    "same length",
                )
            if not all(_is_number(x) and math.isfinite(x) for x in value):
                raise bad(name, value, "every entry must be a finite number (no NaN, inf, bool)")
            out.append(value)
            continue
        if isinstance(value, bool) or not _is_number(value):
            raise bad(name, value, "not a class index (an integer)")
        if not math.isfinite(value) or value != int(value):
            raise bad(name, value, "not an integer class index")
        if not 0 <= value < MAX_CLASSES:
            raise bad(name, value, f"out of range (at most {MAX_CLASSES} classes)")
        out.append(int(value))
    return np.asarray(out, dtype=np.float32 if vector else np.int64)


def folder_labels(source: ImageSource, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Class index of each image from its top-level sub-folder; classes are sorted folder names."""
    top = [n.split("/", 1)[0] if "/" in n else None for n in names]
    loose = [n for n, t in zip(names, top) if t is None]
    if loose:
        raise UserError(
            f"labels='folders' needs every image inside a class sub-folder of '{source.path}', "
            f"but {len(loose)} are at the top level (first: '{loose[0]}'): move them into folders"
        )
    class_names = sorted(set(top))
    index = {c: i for i, c in enumerate(class_names)}
    return np.array([index[t] for t in top], dtype=np.int64), class_names


class ImageDataset(torch.utils.data.Dataset):
    """Shared behaviour of every dataset: label handling, x-flip, random subset, properties.

    Subclasses give the raw image count and shape and implement `_load_raw_image(raw_idx)`.
    `raw_labels` is None (unlabeled), int64 class indices [N] or float32 vectors [N, D].
    """

    num_skipped: int = 0  # unreadable files left out (only folders and zips can have any)

    def __init__(
        self,
        name: str,
        raw_shape: tuple[int, int, int, int],
        raw_labels: np.ndarray | None,
        *,
        class_names: list[str] | None = None,
        use_labels: bool = False,
        max_size: int | None = None,
        xflip: bool = False,
        random_seed: int = 0,
    ) -> None:
        self._name = name
        self._raw_shape = tuple(int(s) for s in raw_shape)
        self._check_shape()
        if use_labels and raw_labels is None:
            raise UserError(f"dataset '{name}' has no labels: turn labels off (use_labels=False)")
        self.class_names = class_names if use_labels else None
        self._store_labels(raw_labels if use_labels else None)

        raw_idx = np.arange(self._raw_shape[0], dtype=np.int64)
        if max_size is not None:
            if not isinstance(max_size, (int, np.integer)) or max_size < 1:
                raise UserError(f"max_size must be a positive integer, got {max_size!r}")
            if max_size < raw_idx.size:
                # A seeded random subset, kept in file order so runs are reproducible.
                rng = np.random.default_rng(random_seed)
                raw_idx = np.sort(rng.choice(raw_idx.size, size=int(max_size), replace=False))
        flips = np.zeros(raw_idx.size, dtype=bool)
        if xflip:
            raw_idx = np.concatenate([raw_idx, raw_idx])
            flips = np.concatenate([flips, np.ones_like(flips)])
        self._raw_idx = raw_idx
        self._xflip = flips

    def _check_shape(self) -> None:
        n, c, h, w = self._raw_shape
        if n == 0:
            raise UserError(f"dataset '{self._name}' has no images")
        if c not in (1, 3):
            raise UserError(f"dataset '{self._name}' has {c} channels; only 1 (grey) or 3 (RGB)")
        if h != w or not is_power_of_two_resolution(h):
            raise UserError(
                f"dataset '{self._name}' has {w}x{h} images but needs square power-of-two images "
                "(4, 8, ..., 1024)"
            )

    def _store_labels(self, raw_labels: np.ndarray | None) -> None:
        """Keep class labels as int64 indices [N] and vector labels as float32 [N, D].

        A class label becomes one-hot only when an item is read (`_label`): a matrix of images x
        classes would be 28 GB for 70,000 images of 100,000 classes, although each row holds a
        single 1.
        """
        n = self._raw_shape[0]
        self._label_classes: np.ndarray | None = None
        self._num_classes = 0
        self._label_vectors = np.zeros([n, 0], dtype=np.float32)
        if raw_labels is None:
            return
        raw_labels = np.asarray(raw_labels)
        if raw_labels.ndim == 2:
            self._label_vectors = raw_labels.astype(np.float32)
            return
        num_classes = int(raw_labels.max()) + 1
        if self.class_names is not None:
            num_classes = max(num_classes, len(self.class_names))
        if raw_labels.min() < 0 or num_classes > MAX_CLASSES:
            raise UserError(
                f"dataset '{self._name}' has class labels from {int(raw_labels.min())} to "
                f"{num_classes - 1}; class indices must be 0..{MAX_CLASSES - 1}"
            )
        self._label_classes = raw_labels.astype(np.int64)
        self._num_classes = num_classes

    def _label(self, raw_idx: int) -> np.ndarray:
        """Label of a raw image: float32 [label_dim], a fresh array."""
        if self._label_classes is None:
            return self._label_vectors[raw_idx].copy()
        onehot = np.zeros([self._num_classes], dtype=np.float32)
        onehot[self._label_classes[raw_idx]] = 1.0
        return onehot

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        return int(self._raw_idx.size)

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        raw_idx = int(self._raw_idx[idx])
        image = self._load_raw_image(raw_idx)
        if self._xflip[idx]:
            image = image[:, :, ::-1]
        # Always a fresh writable array: callers may modify it, and in-memory data must not change.
        return image.copy(), self._label(raw_idx)

    def get_label(self, idx: int) -> np.ndarray:
        """Label of item idx (after subset and flip mapping): float32 [label_dim]."""
        return self._label(int(self._raw_idx[idx]))

    def get_details(self, idx: int) -> tuple[int, bool]:
        """(index of the underlying raw image, whether item idx is mirrored)."""
        return int(self._raw_idx[idx]), bool(self._xflip[idx])

    @property
    def name(self) -> str:
        return self._name

    @property
    def image_shape(self) -> list[int]:
        return list(self._raw_shape[1:])

    @property
    def num_channels(self) -> int:
        return self._raw_shape[1]

    @property
    def resolution(self) -> int:
        return self._raw_shape[2]

    @property
    def label_shape(self) -> list[int]:
        return [self.label_dim]

    @property
    def label_dim(self) -> int:
        return (
            self._num_classes if self._label_classes is not None else self._label_vectors.shape[1]
        )

    @property
    def has_labels(self) -> bool:
        return self.label_dim > 0

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, len={len(self)}, "
            f"shape={self.image_shape}, label_dim={self.label_dim})"
        )


class InMemoryDataset(ImageDataset):
    """A dataset whose images are a uint8 array [N, C, H, W] held in memory (built-in datasets)."""

    def __init__(
        self,
        name: str,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        class_names: list[str] | None = None,
        use_labels: bool = False,
        max_size: int | None = None,
        xflip: bool = False,
        random_seed: int = 0,
    ) -> None:
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {images.dtype} {images.shape}"
            )
        self._images = images
        super().__init__(
            name,
            images.shape,
            labels,
            class_names=class_names,
            use_labels=use_labels,
            max_size=max_size,
            xflip=xflip,
            random_seed=random_seed,
        )

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        return self._images[raw_idx]


@dataclass(frozen=True)
class _ScanResult:
    names: list[str]
    shape: tuple[int, int, int, int]
    num_skipped: int


def _scan_folder(source: ImageSource, skip_bad: bool) -> _ScanResult:
    """List and probe the images of a source and check they are uniform.

    With skip_bad every image is decoded once here, so that files whose header and end are intact
    but whose pixels are broken are skipped too (a header check alone would let them through to
    fail in the middle of training).
    """
    names = source.image_names()
    if not names:
        raise UserError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in '{source.path}': "
            "point to a folder or .zip that holds them"
        )
    if skip_bad:
        logger.info("decoding %d images in %s to find unreadable ones", len(names), source.path)
    good, sizes, modes, bad = scan_images(source, names, skip_bad=skip_bad, decode=skip_bad)
    if bad:
        logger.warning(
            "skipped %d unreadable image(s) in %s (first: %s)", len(bad), source.path, bad[0]
        )
    if not good:
        raise UserError(f"none of the {len(names)} images in '{source.path}' can be read")
    hint = uniform_hint(source.path)
    size_set = sorted(set(sizes))
    if len(size_set) > 1:
        a = good[sizes.index(size_set[0])]
        b = good[sizes.index(size_set[-1])]
        raise UserError(
            f"images in '{source.path}' have mixed resolutions ({size_set[0][0]}x{size_set[0][1]} "
            f"in '{a}', {size_set[-1][0]}x{size_set[-1][1]} in '{b}'): {hint}"
        )
    channels = [channels_of_mode(m) for m in modes]
    if len(set(channels)) > 1:
        a, b = good[channels.index(1)], good[channels.index(3)]
        raise UserError(
            f"images in '{source.path}' mix grey and colour ('{a}' is grey, '{b}' is RGB): {hint}"
        )
    w, h = size_set[0]
    if w != h or not is_power_of_two_resolution(w):
        raise UserError(
            f"images in '{source.path}' are {w}x{h}; training needs square power-of-two images "
            f"(4, 8, ..., 1024): {uniform_hint(source.path, _nearest_power_of_two(min(w, h)))}"
        )
    return _ScanResult(good, (len(good), channels[0], h, w), len(bad))


def _nearest_power_of_two(n: int) -> int:
    """Largest power of two <= n (at least 4), the resolution we suggest for odd sizes."""
    return max(4, 1 << (max(n, 1).bit_length() - 1))


class ImageFolderDataset(ImageDataset):
    """Images in a folder (recursive) or a .zip: PNG, JPEG or WebP, all of one square size.

    Headers are checked in __init__ (size, mode and an intact end of file, without decoding pixels);
    pixels are decoded on access. Grey images give 1 channel, everything else 3 (alpha dropped).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        use_labels: bool = False,
        labels: str = "json",
        max_size: int | None = None,
        xflip: bool = False,
        skip_bad: bool = False,
        random_seed: int = 0,
    ) -> None:
        if labels not in LABEL_SOURCES:
            raise UserError(f"labels must be one of {', '.join(LABEL_SOURCES)}, got '{labels}'")
        self._source = ImageSource(path)
        self._skip_bad = skip_bad
        scan = _scan_folder(self._source, skip_bad)
        self._names = scan.names
        self.num_skipped = scan.num_skipped
        raw_labels, class_names = None, None
        if use_labels:
            if labels == "json":
                raw_labels, class_names = json_labels(self._source, self._names)
            else:
                raw_labels, class_names = folder_labels(self._source, self._names)
        name = self._source.path.stem if self._source.is_zip else self._source.path.name
        super().__init__(
            name,
            scan.shape,
            raw_labels,
            class_names=class_names,
            use_labels=use_labels,
            max_size=max_size,
            xflip=xflip,
            random_seed=random_seed,
        )
        logger.info(
            "opened %s: %d images, %s, label_dim %d",
            self._source.path,
            len(self._names),
            "x".join(map(str, self.image_shape)),
            self.label_dim,
        )

    @property
    def path(self) -> Path:
        return self._source.path

    def image_name(self, raw_idx: int) -> str:
        """Relative name of a raw image, e.g. 'cats/001.png'."""
        return self._names[raw_idx]

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        name = self._names[raw_idx]
        try:
            img = self._source.load(name)
        except BadImageError as e:
            fix = (
                "it could be read when the dataset was opened: was it changed since? "
                "Restore or delete it and start again"
                if self._skip_bad
                else "delete it, or skip bad files with skip_bad=True (--skip-bad)"
            )
            raise UserError(f"bad image '{self._source.describe(name)}': {e}; {fix}") from e
        arr = pil_to_uint8(img, self.num_channels).transpose(2, 0, 1)
        if list(arr.shape) != self.image_shape:
            raise UserError(
                f"image '{self._source.describe(name)}' decoded to {arr.shape}, expected "
                f"{tuple(self.image_shape)}: {uniform_hint(self._source.path, self.resolution)}"
            )
        return arr

    def close(self) -> None:
        self._source.close()


def _convert_hint(ds: ImageDataset, channels: int) -> str:
    """How to give dataset `ds` the wanted channel count with `stylegen dataset --channels`."""
    source = getattr(ds, "path", None)
    if source is None:  # built-in datasets cannot be repacked; convert the other domain instead
        return ""
    return (
        f"`stylegen dataset --source {source} --dest {Path(source).stem}-{channels}ch.zip "
        f"--resolution {ds.resolution} --channels {channels}`"
    )


class UnpairedDataset:
    """Two image domains A and B for unpaired translation (CycleGAN, Zhu et al. 2017).

    An epoch has max(len(A), len(B)) pairs: A is visited in a fresh random order each epoch (the
    smaller domain repeats), and each A image meets an independently drawn random B image, so no
    pairing is ever fixed. The order depends only on (seed, epoch), so training can resume in the
    middle of an epoch. Both domains must have the same channel count; resolutions may differ
    (training resizes both to its load size).
    """

    def __init__(self, a: ImageDataset, b: ImageDataset, seed: int = 0) -> None:
        if a.num_channels != b.num_channels:
            grey, colour = (a, b) if a.num_channels == 1 else (b, a)
            fix = _convert_hint(grey, 3) or _convert_hint(colour, 1)
            fix = f"convert one with {fix}" if fix else "convert one with `stylegen dataset`"
            raise UserError(
                f"domain A '{a.name}' has {a.num_channels} channel(s) but domain B '{b.name}' has "
                f"{b.num_channels}: both need the same; {fix} (--channels 1 or 3)"
            )
        self.a = a
        self.b = b
        self.seed = seed

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    @property
    def num_channels(self) -> int:
        return self.a.num_channels

    def epoch_indices(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices into A and into B for every pair of `epoch` (each of length len(self))."""
        rng = np.random.default_rng([self.seed, epoch])
        idx_a = rng.permutation(len(self)) % len(self.a)
        idx_b = rng.integers(len(self.b), size=len(self))
        return idx_a, idx_b

    def batch(self, epoch: int, start: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Pairs start .. start+size-1 of `epoch` as two uint8 arrays [size, C, H, W]."""
        idx_a, idx_b = self.epoch_indices(epoch)
        sel = slice(start, start + size)
        imgs_a = np.stack([self.a[int(i)][0] for i in idx_a[sel]])
        imgs_b = np.stack([self.b[int(i)][0] for i in idx_b[sel]])
        return imgs_a, imgs_b

    def __repr__(self) -> str:
        return f"UnpairedDataset(a={self.a!r}, b={self.b!r})"
