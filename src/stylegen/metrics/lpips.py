"""LPIPS perceptual distance with VGG-16 (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric"), in plain PyTorch, for the perceptual path length (ppl.py).

LPIPS(x0, x1) = sum over five VGG-16 layers l (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3) of the
spatial mean of w_l . (n0 - n1)^2, where n are the layer's activations normalised to unit length
along channels and w_l >= 0 are the learned linear weights ("lin" layers, v0.1). The input in
[-1, 1] is first shifted and scaled per channel (shift -0.030, -0.088, -0.188; scale 0.458, 0.448,
0.450), as the lpips package does.

Nothing is downloaded. `load_lpips(path)` accepts

* a `.safetensors` file in stylegen's format: the 13 VGG-16 convolutions keyed by torchvision's
  `features` indices (`vgg.0.weight`, `vgg.0.bias`, ..., `vgg.28.bias`) plus `lin.0.weight` ...
  `lin.4.weight` (shape [1, C, 1, 1]). Make it with

      python -m stylegen.metrics.lpips vgg16-397923af.pth [vgg.pth] lpips_vgg16.safetensors

  from torchvision's ImageNet VGG-16 state dict and the lpips package's `weights/v0.1/vgg.pth`
  (found in an installed `lpips` package when not given; the package is never imported). Layer
  widths are read from the file, so smaller stand-ins with the same topology load too (tests);
* NVIDIA's TorchScript `vgg16.pt` (the StyleGAN2-ADA metrics file), called as
  `module(img, resize_images=False, return_lpips=True)`; the squared distance between its outputs
  is the LPIPS distance.

The path comes from the caller (`--lpips`) or the environment variable STYLEGEN_LPIPS. Both kinds
take images as float [N, 3, H, W] in [0, 255] through the common `PerceptualDistance` interface.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stylegen.errors import UserError
from stylegen.fileio import atomic_file

__all__ = [
    "ENV_VAR",
    "LPIPSVGG16",
    "PerceptualDistance",
    "convert_lpips_weights",
    "find_lpips_lin_weights",
    "load_lpips",
]

log = logging.getLogger(__name__)

ENV_VAR = "STYLEGEN_LPIPS"
# torchvision vgg16().features indices: convolutions, and the ReLUs whose outputs LPIPS compares.
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
POOL_AFTER = (1, 3, 6, 9)  # positions in CONV_INDICES followed by a 2x2 max pool
TAP_AFTER = (1, 3, 6, 9, 12)  # positions in CONV_INDICES whose ReLU output is a tap
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
HOW_TO_GET = (
    "pass --lpips PATH (or set STYLEGEN_LPIPS) to NVIDIA's TorchScript vgg16.pt from the "
    "StyleGAN2-ADA metrics, or to a .safetensors made with `python -m stylegen.metrics.lpips "
    "vgg16-397923af.pth [vgg.pth] OUT.safetensors` from torchvision's VGG-16 weights and the "
    "lpips package's weights/v0.1/vgg.pth"
)


class PerceptualDistance(nn.Module):
    """Interface: forward(img0, img1) → LPIPS distance [N]; images float [N, 3, H, W] in 0..255."""

    source: str = ""


class LPIPSVGG16(PerceptualDistance):
    """LPIPS v0.1 with VGG-16 from a state dict in stylegen's format (see module docstring)."""

    def __init__(self, state: dict[str, torch.Tensor], source: str = "") -> None:
        super().__init__()
        self.source = source
        _check_state(state, source)
        self.convs = nn.ModuleList()
        for i in CONV_INDICES:
            w = state[f"vgg.{i}.weight"]
            conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(state[f"vgg.{i}.bias"])
            self.convs.append(conv)
        self.lins = nn.ParameterList(
            [nn.Parameter(state[f"lin.{i}.weight"].float().clone()) for i in range(5)]
        )
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """The five unit-normalised tap activations of img (float 0..255)."""
        x = (img / 127.5 - 1.0 - self.shift) / self.scale
        taps = []
        for pos, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if pos in TAP_AFTER:
                # lpips' normalize_tensor: divide by the channel norm plus 1e-10.
                taps.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10))
            if pos in POOL_AFTER:
                x = F.max_pool2d(x, 2, stride=2)
        return taps

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        both = self.features(torch.cat([img0, img1]))
        total = torch.zeros(img0.shape[0], device=img0.device)
        for tap, lin in zip(both, self.lins):
            f0, f1 = tap.chunk(2)
            total = total + F.conv2d((f0 - f1).square(), lin).mean(dim=(1, 2, 3))
        return total


class NvidiaVGG16(PerceptualDistance):
    """NVIDIA's TorchScript vgg16.pt: squared distance between its LPIPS embeddings."""

    def __init__(self, module: torch.nn.Module, source: str = "") -> None:
        super().__init__()
        self.module = module.eval()
        self.source = source

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        e = self.module(torch.cat([img0, img1]), resize_images=False, return_lpips=True)
        e0, e1 = e.chunk(2)
        return (e0 - e1).square().sum(1)


def _check_state(state: dict[str, torch.Tensor], source: str) -> None:
    names = [f"vgg.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")]
    names += [f"lin.{i}.weight" for i in range(5)]
    missing = [n for n in names if n not in state]
    if missing:
        raise UserError(
            f"LPIPS file {source} lacks {len(missing)} tensor(s), e.g. {missing[:2]}: it is not "
            f"an LPIPS VGG-16 file in stylegen's format; {HOW_TO_GET}"
        )
    in_ch = 3
    for pos, i in enumerate(CONV_INDICES):
        w = state[f"vgg.{i}.weight"]
        if w.ndim != 4 or w.shape[1] != in_ch or state[f"vgg.{i}.bias"].shape != w.shape[:1]:
            raise UserError(f"LPIPS file {source}: vgg.{i} has shape {tuple(w.shape)}")
        in_ch = w.shape[0]
        if pos in TAP_AFTER:
            lin = state[f"lin.{TAP_AFTER.index(pos)}.weight"]
            if tuple(lin.shape) != (1, in_ch, 1, 1):
                raise UserError(
                    f"LPIPS file {source}: lin.{TAP_AFTER.index(pos)} has shape "
                    f"{tuple(lin.shape)}, expected (1, {in_ch}, 1, 1)"
                )


def load_lpips(
    path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> PerceptualDistance:
    """Load the LPIPS distance from `path`, else $STYLEGEN_LPIPS; UserError when neither works."""
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        raise UserError(f"PPL needs LPIPS VGG-16 weights and none were given: {HOW_TO_GET}")
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"LPIPS file {p} does not exist; {HOW_TO_GET}")
    if p.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(p))
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"LPIPS file {p} is not a readable safetensors file ({exc})") from None
        model: PerceptualDistance = LPIPSVGG16(state, source=str(p))
    else:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                module = torch.jit.load(str(p), map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            raise UserError(
                f"LPIPS file {p} is neither stylegen's .safetensors nor a TorchScript file "
                f"({exc.__class__.__name__}); {HOW_TO_GET}"
            ) from None
        model = NvidiaVGG16(module, source=str(p))
    log.info("loaded LPIPS weights %s", p)
    return model.to(device)


# --------------------------------------------------------------------------------------------
# Conversion from torchvision + lpips files


def find_lpips_lin_weights() -> Path | None:
    """weights/v0.1/vgg.pth inside an installed `lpips` package (not imported), else None."""
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "weights" / "v0.1" / "vgg.pth"
        if candidate.is_file():
            return candidate
    return None


def convert_lpips_weights(
    vgg_pth: str | os.PathLike, lin_pth: str | os.PathLike | None, out: str | os.PathLike
) -> Path:
    """torchvision VGG-16 state dict + lpips lin weights → stylegen's LPIPS .safetensors."""
    from safetensors.torch import save_file

    lin_path = Path(lin_pth) if lin_pth else find_lpips_lin_weights()
    if lin_path is None:
        raise UserError(
            "no LPIPS linear weights given and no `lpips` package installed: pass the lpips "
            "package's weights/v0.1/vgg.pth (`pip install lpips --no-deps`)"
        )
    vgg = torch.load(str(vgg_pth), map_location="cpu", weights_only=True)
    lin = torch.load(str(lin_path), map_location="cpu", weights_only=True)
    state = {}
    for i in CONV_INDICES:
        for p in ("weight", "bias"):
            key = f"features.{i}.{p}"
            if key not in vgg:
                raise UserError(f"{vgg_pth} is not a torchvision VGG-16 state dict (no {key})")
            state[f"vgg.{i}.{p}"] = vgg[key].float().contiguous()
    for i in range(5):
        key = f"lin{i}.model.1.weight"
        if key not in lin:
            raise UserError(f"{lin_path} is not an lpips v0.1 linear-layer file (no {key})")
        state[f"lin.{i}.weight"] = lin[key].float().contiguous()
    LPIPSVGG16(state, source=str(out))  # validate shapes before writing
    out = Path(out)
    with atomic_file(out) as tmp:
        save_file(state, str(tmp), metadata={"format": "stylegen-lpips-vgg16"})
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        print(
            "usage: python -m stylegen.metrics.lpips VGG16.pth [LPIPS_VGG.pth] OUT.safetensors",
            file=sys.stderr,
        )
        return 2
    vgg, lin, out = (args[0], None, args[1]) if len(args) == 2 else args
    try:
        print(f"wrote {convert_lpips_weights(vgg, lin, out)}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
