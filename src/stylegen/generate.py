"""Seeds -> latents -> images: the one generation path shared by the CLI, the web explorer and the
metrics. Implements the truncation trick (Karras et al. 2019) and class-conditional sampling.

A seed always gives the same z: it is drawn with NumPy's RandomState(seed), as the official
StyleGAN generate scripts do, so seeds carry over from official snapshots, and the image depends
neither on the batch size nor on the device.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.images import float_to_uint8

__all__ = [
    "class_labels",
    "class_rows",
    "generate_images",
    "iter_images",
    "parse_seeds",
    "parse_translate",
    "set_input_transform",
    "transform_frames",
    "z_from_seeds",
]

_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise UserError(f"seed range {part!r} is backwards; write it as {hi}-{lo}")
            seeds.extend(range(lo, hi + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise UserError(
                f"malformed seeds {text!r} (bad part {part!r}); use e.g. 0-31 or 1,5,9 or 0-3,10"
            )
    if any(s >= 2**32 for s in seeds):
        raise UserError(f"seeds must be below 2**32; got {max(seeds)}")
    return seeds


def z_from_seeds(seeds: list[int], z_dim: int) -> torch.Tensor:
    """One z per seed from RandomState(seed), as the official generate.py does."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).to(
        torch.float32
    )


def class_labels(G: nn.Module, class_idx: int | None, n: int) -> torch.Tensor | None:
    """One-hot labels for a conditional generator; checks the class against the network."""
    c_dim = int(getattr(G, "c_dim", 0))
    if c_dim == 0:
        if class_idx is not None:
            raise UserError(
                f"--class {class_idx} given but the network is unconditional; drop --class"
            )
        return None
    if class_idx is None:
        raise UserError(
            f"the network is conditional ({c_dim} classes); pass --class N with 0 <= N < {c_dim}"
        )
    if not 0 <= class_idx < c_dim:
        raise UserError(f"--class {class_idx} is out of range; use 0 <= N < {c_dim}")
    c = torch.zeros(n, c_dim)
    c[:, class_idx] = 1
    return c


def iter_images(
    G: nn.Module,
    seeds: list[int],
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    class_idx: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yield (seeds, uint8 images [B, C, H, W]) batch by batch."""
    if noise_mode not in ("const", "random", "none"):
        raise UserError(f"noise mode {noise_mode!r} is unknown; use const, random or none")
    class_labels(G, class_idx, 1)  # validate before doing any work
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start : start + batch_size]
        z = z_from_seeds(chunk, G.z_dim).to(device)
        c = class_labels(G, class_idx, len(chunk))
        c = c.to(device) if c is not None else None
        with torch.no_grad():
            img = G(
                z,
                c,
                truncation_psi=truncation_psi,
                truncation_cutoff=truncation_cutoff,
                noise_mode=noise_mode,
            )
        yield chunk, float_to_uint8(img).cpu()


def generate_images(
    G: nn.Module,
    seeds: list[int],
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    class_idx: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 images [len(seeds), C, H, W] for the given seeds."""
    batches = iter_images(
        G, seeds, truncation_psi, truncation_cutoff, class_idx, noise_mode, batch_size, device
    )
    return torch.cat([img for _, img in batches])


def class_rows(
    G: nn.Module,
    seeds: list[int],
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 images [c_dim, len(seeds), C, H, W] of a conditional generator: every seed drawn
    once per class (the same z in each column), for a grid with one row per class."""
    c_dim = int(getattr(G, "c_dim", 0))
    if c_dim == 0:
        raise UserError("--class all needs a conditional network; this one is not: drop --class")
    rows = [
        generate_images(
            G, seeds, truncation_psi, truncation_cutoff, k, noise_mode, batch_size, device
        )
        for k in range(c_dim)
    ]
    return torch.stack(rows)


# ---------------------------------------------------------------------------------------------
# StyleGAN3 input transforms (translate / rotate at generation time)


def parse_translate(text: str) -> tuple[float, float]:
    """'0.1,-0.25' -> (0.1, -0.25): a translation in image widths (1 / resolution = 1 pixel)."""
    parts = str(text).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise UserError(
            f"malformed --translate {text!r}; write X,Y in image widths, e.g. 0.1,-0.25"
        ) from None


def set_input_transform(
    G: nn.Module, translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0
) -> None:
    """Translate/rotate a StyleGAN3 generator's output via its input transform (like the
    official gen_images.py). StyleGAN2 networks have no such input: a UserError says so."""
    synthesis_input = getattr(getattr(G, "synthesis", None), "input", None)
    if synthesis_input is None or not hasattr(synthesis_input, "transform"):
        raise UserError(
            "--translate/--rotate need a StyleGAN3 network (stylegan3-t/-r); this one is "
            f"{type(G).__module__.rsplit('.', 1)[-1]} and has no Fourier input: drop the flags"
        )
    from stylegen.models.stylegan3 import input_transform

    m = input_transform(translate, rotate)
    synthesis_input.transform.copy_(m.to(synthesis_input.transform))


def transform_frames(
    G: nn.Module,
    seed: int,
    frames: int,
    translate_max: float = 0.125,
    rotate_max: float = 15.0,
    truncation_psi: float = 1.0,
    class_idx: int | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 frames [frames, C, H, W] of one seed while the input pans around a circle of radius
    `translate_max` (image widths) and rotates back and forth by up to `rotate_max` degrees.

    A looping clip: in an alias-free network details move with the object instead of sticking
    to the pixel grid. The network's own transform is restored afterwards.
    """
    if frames < 1:
        raise UserError(f"--frames {frames} must be >= 1")
    set_input_transform(G, (0.0, 0.0), 0.0)  # checks the network before any work
    transform = G.synthesis.input.transform
    saved = transform.clone()
    z = z_from_seeds([seed], G.z_dim).to(device)
    c = class_labels(G, class_idx, 1)
    c = c.to(device) if c is not None else None
    out = []
    try:
        with torch.no_grad():
            ws = G.mapping(z, c, truncation_psi=truncation_psi)
            for i in range(frames):
                phase = 2 * np.pi * i / frames
                translate = (translate_max * np.cos(phase), translate_max * np.sin(phase))
                set_input_transform(G, translate, rotate_max * np.sin(phase))
                out.append(float_to_uint8(G.synthesis(ws)).cpu())
    finally:
        transform.copy_(saved)
    return torch.cat(out)
