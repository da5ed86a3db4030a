"""Built-in datasets that need no download: Fashion-MNIST and Noto Color Emoji.

- `fashion-mnist`: Xiao, Rasul & Vollgraf (2017), "Fashion-MNIST: a Novel Image Dataset for
  Benchmarking Machine Learning Algorithms" (Zalando SE, MIT licence). 28x28 grey clothing images in
  10 classes, padded with 2 black pixels on each side to 32x32 (a power of two, as StyleGAN needs).
  All 70,000 images (train then test) come from the Debian package `dataset-fashion-mnist` when it
  is installed; otherwise the 10,000-image subset shipped in `builtin_data/` (the first 1,000 per
  class of the training set, rebuilt by scripts/make_builtin_fashion_mnist.py) is used.
- `emoji`: every single-code-point emoji of Google's Noto Color Emoji font (Debian package
  `fonts-noto-color-emoji`), rendered with Pillow at the font's only bitmap size (109 px),
  centred on a white square, and resized to 64x64 RGB with Lanczos filtering. White matches how
  emoji are usually seen. Labels are five Unicode-block groups (see EMOJI_CLASSES). Rendering
  takes about a second and happens on first use; the result is cached in memory for the life of
  the process (no disk cache: re-rendering is cheaper than managing one).

Both are returned as `InMemoryDataset`, so labels, x-flip and max_size behave as for folders.
"""

from __future__ import annotations

import functools
import gzip
import logging
from importlib import resources
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stylegen.data.datasets import InMemoryDataset
from stylegen.errors import UserError

logger = logging.getLogger(__name__)

BUILTIN_DATASETS = ("fashion-mnist", "emoji")

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
)
FASHION_MNIST_SUBSET = (
    "fashion-mnist-subset-images-idx3-ubyte.gz",
    "fashion-mnist-subset-labels-idx1-ubyte.gz",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_PAD = 2  # 28 + 2 * 2 = 32

EMOJI_FONT_PATHS = (
    Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),  # Debian, Ubuntu
    Path("/usr/share/fonts/noto/NotoColorEmoji.ttf"),  # Arch
    Path("/usr/share/fonts/google-noto-emoji/NotoColorEmoji.ttf"),  # Fedora
)
EMOJI_RESOLUTION = 64
EMOJI_BACKGROUND = (255, 255, 255)
# The font holds colour bitmaps at a single strike; FreeType refuses any other size.
EMOJI_FONT_SIZE = 109
# Label groups by Unicode block: (name, first code point, last code point); the rest are "symbols".
EMOJI_CLASSES = (
    ("symbols", 0, 0),
    ("pictographs", 0x1F300, 0x1F5FF),
    ("emoticons", 0x1F600, 0x1F64F),
    ("transport-and-map", 0x1F680, 0x1F6FF),
    ("supplemental", 0x1F900, 0x1FAFF),
)
# Code points in the font that are not pictures on their own: joiners, keycap and variation
# selectors, tag characters, skin-tone swatches, regional-indicator letters.
_EMOJI_EXCLUDED = (
    (0x200D, 0x200D),
    (0x20E3, 0x20E3),
    (0xFE00, 0xFE0F),
    (0xE0000, 0xE007F),
    (0x1F3FB, 0x1F3FF),
    (0x1F1E6, 0x1F1FF),
)
_PRIVATE_USE = ((0xE000, 0xF8FF), (0xF0000, 0x10FFFF))


def read_idx(fileobj: BinaryIO) -> np.ndarray:
    """Read an IDX array (the MNIST file format) of unsigned bytes from a gzip file object."""
    with gzip.open(fileobj, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError("not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _pad_fashion(images: np.ndarray) -> np.ndarray:
    """[N, 28, 28] -> [N, 1, 32, 32] with a black border (the background is already black)."""
    p = FASHION_MNIST_PAD
    return np.pad(images, ((0, 0), (p, p), (p, p)))[:, None]


def _read_only(a: np.ndarray) -> np.ndarray:
    """Cached arrays are shared by every dataset opened in the process: guard them."""
    a.setflags(write=False)
    return a


def _shipped_file(name: str) -> BinaryIO:
    return resources.files("stylegen.data").joinpath("builtin_data", name).open("rb")


@functools.lru_cache(maxsize=2)
def fashion_mnist_arrays(
    source_dir: Path | None = FASHION_MNIST_DIR,
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as (uint8 [N, 1, 32, 32], int64 labels [N]).

    Reads all 70,000 images from `source_dir` (the Debian package) when it holds the four IDX
    files, else the shipped 10,000-image subset. Cached: later calls return the same arrays.
    """
    parts = []
    if source_dir is not None and all(
        (Path(source_dir) / f).is_file() for pair in FASHION_MNIST_FILES for f in pair
    ):
        for img_file, lbl_file in FASHION_MNIST_FILES:
            with (
                open(Path(source_dir) / img_file, "rb") as fi,
                open(Path(source_dir) / lbl_file, "rb") as fl,
            ):
                parts.append((read_idx(fi), read_idx(fl)))
        where = str(source_dir)
    else:
        with (
            _shipped_file(FASHION_MNIST_SUBSET[0]) as fi,
            _shipped_file(FASHION_MNIST_SUBSET[1]) as fl,
        ):
            parts.append((read_idx(fi), read_idx(fl)))
        where = "the subset shipped with stylegen (install dataset-fashion-mnist for all 70,000)"
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    logger.info("fashion-mnist: %d images from %s", len(images), where)
    return _read_only(_pad_fashion(images)), _read_only(labels)


def find_emoji_font() -> Path | None:
    """Path of NotoColorEmoji.ttf if the font package is installed."""
    return next((p for p in EMOJI_FONT_PATHS if p.is_file()), None)


def _in_ranges(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def emoji_codepoints(font_path: Path) -> list[int]:
    """Sorted code points that the font draws as a picture on their own."""
    from fontTools.ttLib import TTFont  # a matplotlib dependency; only needed here

    cmap = TTFont(str(font_path), lazy=True).getBestCmap()
    # Below U+2000 the font only maps ASCII digits, '#', '*', (c), (R): keycap bases, not emoji.
    return [
        cp
        for cp in sorted(cmap)
        if cp >= 0x2000 and not _in_ranges(cp, _EMOJI_EXCLUDED) and not _in_ranges(cp, _PRIVATE_USE)
    ]


def emoji_class(cp: int) -> int:
    """Index into EMOJI_CLASSES of a code point's Unicode-block group."""
    for i, (_, lo, hi) in enumerate(EMOJI_CLASSES):
        if i > 0 and lo <= cp <= hi:
            return i
    return 0


def _render_one(font: ImageFont.FreeTypeFont, cp: int, resolution: int) -> np.ndarray:
    """One emoji centred on a square background, resized to resolution: uint8 [3, R, R]."""
    left, top, right, bottom = font.getbbox(chr(cp))
    side = max(right - left, bottom - top)
    glyph = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    origin = ((side - (right - left)) // 2 - left, (side - (bottom - top)) // 2 - top)
    ImageDraw.Draw(glyph).text(origin, chr(cp), font=font, embedded_color=True)
    # Composite before resizing so the Lanczos filter never mixes in colours of transparent pixels.
    square = Image.new("RGBA", glyph.size, (*EMOJI_BACKGROUND, 255))
    rgb = Image.alpha_composite(square, glyph).convert("RGB")
    rgb = rgb.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


@functools.lru_cache(maxsize=2)
def render_emoji(
    font_path: Path | None = None, resolution: int = EMOJI_RESOLUTION
) -> tuple[np.ndarray, np.ndarray]:
    """All emoji as (uint8 [N, 3, R, R], int64 group labels [N]); cached in memory."""
    font_path = font_path or find_emoji_font()
    if font_path is None or not Path(font_path).is_file():
        raise UserError(
            "the 'emoji' dataset needs the Noto Color Emoji font: "
            "run `apt-get install fonts-noto-color-emoji` (as root)"
        )
    font = ImageFont.truetype(str(font_path), EMOJI_FONT_SIZE)
    cps = emoji_codepoints(Path(font_path))
    images = np.stack([_render_one(font, cp, resolution) for cp in cps])
    labels = np.array([emoji_class(cp) for cp in cps], dtype=np.int64)
    logger.info("emoji: rendered %d emoji from %s at %dx%d", len(cps), font_path, *[resolution] * 2)
    return _read_only(images), _read_only(labels)


def class_slug(class_name: str) -> str:
    """'Ankle boot' -> 'ankle-boot', 'T-shirt/top' -> 't-shirt-top': the form used in specs."""
    return "-".join(class_name.lower().replace("/", " ").split())


def split_class_spec(spec: str) -> tuple[str, str | None]:
    """'fashion-mnist:sneaker' -> ('fashion-mnist', 'sneaker'); 'emoji' -> ('emoji', None)."""
    name, sep, cls = spec.partition(":")
    return name, (cls if sep else None)


def _select_class(
    name: str, images: np.ndarray, labels: np.ndarray, class_names: list[str], wanted: str
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the classes named in `wanted`, one or several separated by commas (the labels keep
    their original indices, so a conditional network still sees the full class count)."""
    slugs = [class_slug(c) for c in class_names]
    keep = np.zeros(len(labels), dtype=bool)
    for one in wanted.split(","):
        if class_slug(one) not in slugs:
            raise UserError(
                f"'{name}' has no class '{one}'; choose one or several (comma-separated) of: "
                f"{', '.join(slugs)} (e.g. {name}:{slugs[-1]})"
            )
        keep |= labels == slugs.index(class_slug(one))
    return images[keep], labels[keep]


def open_builtin(
    name: str,
    *,
    use_labels: bool = False,
    max_size: int | None = None,
    xflip: bool = False,
    random_seed: int = 0,
) -> InMemoryDataset:
    """Open a built-in dataset by name (see BUILTIN_DATASETS).

    `name:class` keeps one class only, e.g. 'fashion-mnist:sneaker' or 'fashion-mnist:ankle-boot'
    (class names in lower case, spaces and slashes as '-'), for unpaired translation domains;
    `name:a,b,c` keeps several, e.g. 'fashion-mnist:sneaker,sandal,ankle-boot' (a group of
    classes to fine-tune on).
    """
    name, wanted = split_class_spec(name)
    if name == "fashion-mnist":
        images, labels = fashion_mnist_arrays()
        class_names = list(FASHION_MNIST_CLASSES)
    elif name == "emoji":
        images, labels = render_emoji()
        class_names = [c[0] for c in EMOJI_CLASSES]
    else:
        raise UserError(f"unknown built-in dataset '{name}': choose one of {BUILTIN_DATASETS}")
    if wanted is not None:
        images, labels = _select_class(name, images, labels, class_names, wanted)
        name = f"{name}-{'-'.join(class_slug(one) for one in wanted.split(','))}"
    return InMemoryDataset(
        name,
        images,
        labels,
        class_names=class_names,
        use_labels=use_labels,
        max_size=max_size,
        xflip=xflip,
        random_seed=random_seed,
    )
