"""Super-resolution with a trained upscaler (SRCNN, Dong et al. 2014; ESPCN, Shi et al. 2016):
images of any size -> images `scale` times larger, for `stylegen upscale` and `stylegen generate
--upscale`.

Both networks are fully convolutional, so any height and width works. Large images are cut into
tiles that overlap by the network's context (`lr_context`: the low-resolution pixels that can
change an output pixel); each tile's output keeps only its own interior, so the tiled result
equals the whole-image result while memory stays bounded by the tile size.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image

from stylegen.checkpoint import load
from stylegen.data.datasets import (
    DECODE_ERRORS,
    bombs_are_errors,
    channels_of_mode,
    describe_decode_error,
    pil_to_uint8,
)
from stylegen.data.files import input_files
from stylegen.errors import UserError
from stylegen.images import float_to_uint8, save_image, uint8_to_float
from stylegen.models.superres import ESPCN, SRCNN

__all__ = [
    "DEFAULT_TILE",
    "check_channels",
    "load_upscaler",
    "upscale",
    "upscale_files",
    "upscale_uint8",
]

DEFAULT_TILE = 256  # low-resolution tile side; larger inputs are tiled

Upscaler = SRCNN | ESPCN


def load_upscaler(network: str | os.PathLike, device: str | torch.device = "cpu") -> Upscaler:
    """The SRCNN / ESPCN of a run, snapshot or checkpoint folder; one line for anything else."""
    model = load(network, device=device)
    if not isinstance(model, (SRCNN, ESPCN)):
        raise UserError(
            f"{network} holds a {type(model).__name__}, not an upscaler; train one with "
            "`stylegen train --arch espcn --scale 2 --data D`"
        )
    return model


def check_channels(net: Upscaler, channels: int, what: str) -> None:
    """One line when `what` has another channel count than the upscaler was trained for."""
    if channels != net.img_channels:
        kind = {1: "grey", 3: "RGB"}
        raise UserError(
            f"{what} is {kind.get(channels, channels)} ({channels} channel(s)) but the upscaler "
            f"was trained on {kind.get(net.img_channels)} images ({net.img_channels}); use an "
            "upscaler trained on data with the same channels"
        )


@torch.no_grad()
def upscale(net: Upscaler, img: torch.Tensor, tile: int = DEFAULT_TILE) -> torch.Tensor:
    """float [N, C, h, w] in [-1, 1] -> [N, C, h s, w s] in [-1, 1], tiled above `tile` pixels."""
    check_channels(net, img.shape[1], "the input")
    s, (h, w) = net.scale, img.shape[-2:]
    if h <= tile and w <= tile:
        return net(img).clamp(-1, 1)
    m = net.lr_context
    out = img.new_empty(img.shape[0], img.shape[1], h * s, w * s)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(y0 - m, 0), max(x0 - m, 0)  # the tile and its context
            part = net(img[..., ya : min(y1 + m, h), xa : min(x1 + m, w)])
            oy, ox = (y0 - ya) * s, (x0 - xa) * s
            out[..., y0 * s : y1 * s, x0 * s : x1 * s] = part[
                ..., oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s
            ]
    return out.clamp(-1, 1)


def upscale_uint8(net: Upscaler, images: torch.Tensor, tile: int = DEFAULT_TILE) -> torch.Tensor:
    """uint8 [N, C, h, w] -> uint8 [N, C, h s, w s] on the upscaler's device, returned on CPU."""
    device = next(net.parameters()).device
    return float_to_uint8(upscale(net, uint8_to_float(images).to(device), tile)).cpu()


def _channels(path: Path) -> int:
    """1 for a grey file, 3 otherwise (from the header; nothing decoded)."""
    try:
        with bombs_are_errors(), Image.open(path) as img:
            return channels_of_mode(img.mode)
    except DECODE_ERRORS as exc:
        raise UserError(
            f"cannot read image {path} ({describe_decode_error(exc)}); delete it or fix it"
        ) from None


def _read(path: Path) -> torch.Tensor:
    """uint8 [C, H, W] of a file, C = 1 for grey modes, else 3 (alpha dropped)."""
    try:
        with bombs_are_errors(), Image.open(path) as img:
            img.load()
            arr = pil_to_uint8(img, channels_of_mode(img.mode))
    except DECODE_ERRORS as exc:
        raise UserError(
            f"cannot read image {path} ({describe_decode_error(exc)}); delete it or fix it"
        ) from None
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def upscale_files(
    net: Upscaler, inp: str | os.PathLike, outdir: str | os.PathLike, tile: int = DEFAULT_TILE
) -> list[Path]:
    """Upscale an image file or every image under a folder into `outdir` (PNG, the input's
    relative path). Every file's channels are checked before anything is written."""
    inp, outdir = Path(inp), Path(outdir)
    files = input_files(inp)
    for path in files:
        check_channels(net, _channels(path), f"--input {path}")
    written = []
    for path in files:
        rel = path.relative_to(inp) if inp.is_dir() else Path(path.name)
        big = upscale_uint8(net, _read(path)[None], tile)[0]
        written.append(save_image(big, outdir / rel.with_suffix(".png")))
    return written
