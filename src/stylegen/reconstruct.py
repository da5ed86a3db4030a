"""Reconstructions with a trained VAE (Kingma & Welling 2014): images -> encoder q(z | x) ->
decoder -> images. The posterior mean by default, or a posterior sample (`sample=True`).

A VAE checkpoint (`stylegen train --arch vae`) holds encoder and decoder in one module, so
`--network` may be a run folder (its newest snapshot), a snapshot or a checkpoint folder. Input
images are converted to the network's channel count and resized to its size (bilinear); each
reconstruction is written as PNG under its input's name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from stylegen.checkpoint import load
from stylegen.data.files import input_files, read_image
from stylegen.errors import UserError
from stylegen.generate import class_labels
from stylegen.images import float_to_uint8, make_grid, save_image, uint8_to_float
from stylegen.models.vae import VAE

__all__ = ["load_vae", "reconstruct_files", "reconstruct_images"]


def load_vae(network: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """The VAE of a run, snapshot or checkpoint folder; UserError for any other network."""
    model = load(network, device=device)
    if not isinstance(model, VAE):
        raise UserError(
            f"--network {network} holds a {type(model).__name__}, not a VAE; reconstruct needs a "
            "run of `stylegen train --arch vae`"
        )
    return model


@torch.no_grad()
def reconstruct_images(
    vae: VAE,
    images: np.ndarray | torch.Tensor,
    c: torch.Tensor | None = None,
    sample: bool = False,
    seed: int = 0,
    batch_size: int = 16,
) -> torch.Tensor:
    """uint8 images [N, C, H, W] at the VAE's size (labels c [N, c_dim] when conditional) ->
    reconstructions, uint8 [N, C, H, W]. `sample` decodes z ~ q(z | x) (noise from `seed`)
    instead of the posterior mean."""
    device = next(vae.parameters()).device
    images = torch.as_tensor(images)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(images), batch_size):
        x = uint8_to_float(images[start : start + batch_size]).to(device)
        cc = c[start : start + batch_size].to(device) if c is not None else None
        eps = torch.randn(len(x), vae.z_dim, generator=gen).to(device) if sample else None
        out.append(float_to_uint8(vae.reconstruct(x, cc, eps)).cpu())
    return torch.cat(out) if out else images.clone()


def reconstruct_files(
    vae: VAE,
    inp: str | os.PathLike,
    outdir: str | os.PathLike,
    class_idx: int | None = None,
    sample: bool = False,
    seed: int = 0,
    grid: bool = False,
    batch_size: int = 16,
) -> list[Path]:
    """Reconstruct an image file or every image in a folder into <outdir>/<relative name>.png;
    `grid` also writes grid.png, rows of input | reconstruction pairs. A conditional VAE needs
    `class_idx` (the class of every input)."""
    inp, outdir = Path(inp), Path(outdir)
    class_labels(vae, class_idx, 1)  # check the class before any work
    files = input_files(inp)
    size, channels = vae.img_resolution, vae.img_channels
    written, pairs = [], []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        imgs = torch.from_numpy(np.stack([read_image(f, channels, size) for f in chunk]))
        c = class_labels(vae, class_idx, len(chunk))
        recs = reconstruct_images(vae, imgs, c, sample, seed + start, batch_size)
        for f, rec in zip(chunk, recs):
            rel = f.relative_to(inp) if inp.is_dir() else Path(f.name)
            written.append(save_image(rec, (outdir / rel).with_suffix(".png")))
        if grid:
            pairs.append(torch.stack([imgs, recs], dim=1).flatten(0, 1))
    if grid:
        images = torch.cat(pairs)
        save_image(make_grid(images, ncols=min(8, len(images))), outdir / "grid.png")
    return written
