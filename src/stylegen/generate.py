"""Seeds -> latents -> images: the one generation path shared by the CLI, the web explorer and the
metrics. Implements the truncation trick (Karras et al. 2019) and class-conditional sampling.

A seed always gives the same z: it is drawn with NumPy's RandomState(seed), as the official
StyleGAN generate scripts do, so seeds carry over from official snapshots, and the image depends
neither on the batch size nor on the device.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from stylegen.config import check_number
from stylegen.errors import UserError
from stylegen.images import float_to_uint8

__all__ = [
    "check_generation_args",
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

_RANGE = re.compile(r"^(\d+)-(\d+)$", re.ASCII)
_SEED = re.compile(r"^\d+$", re.ASCII)
# NumPy's RandomState(seed), which turns a seed into z, takes seeds 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
# Most seeds one call may ask for: each is a PNG (or a z kept in memory), so a million is already
# far more than anyone looks at, and a typo such as 0-99999999999 fails here, before allocation.
MAX_SEEDS = 1_000_000


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11].

    Seeds are 0 .. 2**32 - 1 (what RandomState accepts) and one call gives at most MAX_SEEDS of
    them; both are checked before the list is built.
    """
    spans: list[tuple[int, int]] = []
    total = 0
    for part in str(text).split(","):
        part = part.strip()
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise UserError(f"seed range {part!r} is backwards; write it as {hi}-{lo}")
        elif _SEED.match(part):
            lo = hi = int(part)
        else:
            raise UserError(
                f"malformed seeds {text!r} (bad part {part!r}); use e.g. 0-31 or 1,5,9 or 0-3,10"
            )
        if hi > MAX_SEED:
            raise UserError(
                f"seed {hi} in {part!r} is too large: seeds are 0 to {MAX_SEED} (2**32 - 1)"
            )
        total += hi - lo + 1
        spans.append((lo, hi))
    if total > MAX_SEEDS:
        raise UserError(
            f"seeds {text!r} ask for {total} images; at most {MAX_SEEDS} per call: split them"
        )
    return [s for lo, hi in spans for s in range(lo, hi + 1)]


def z_from_seeds(seeds: list[int], z_dim: int) -> torch.Tensor:
    """One z per seed from RandomState(seed), as the official generate.py does."""
    bad = [s for s in seeds if isinstance(s, bool) or not 0 <= s <= MAX_SEED]
    if bad:
        raise UserError(f"seed {bad[0]!r} is out of range: seeds are 0 to {MAX_SEED} (2**32 - 1)")
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


def check_generation_args(
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    batch_size: int = 16,
) -> None:
    """Refuse a NaN or infinite truncation psi, a negative cutoff or a batch below 1 (the names are
    `stylegen generate`'s flags), before any network is loaded or image made."""
    check_number("--trunc", truncation_psi)
    check_number("--trunc-cutoff", truncation_cutoff, integer=True, low=0, optional=True)
    check_number("--batch", batch_size, integer=True, low=1)


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
    check_generation_args(truncation_psi, truncation_cutoff, batch_size)
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
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise UserError(
            f"malformed --translate {text!r}; write X,Y in image widths, e.g. 0.1,-0.25"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise UserError(f"--translate {text!r} must be two finite numbers, e.g. 0.1,-0.25")
    return x, y


def set_input_transform(
    G: nn.Module, translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0
) -> None:
    """Translate/rotate a StyleGAN3 generator's output via its input transform (like the
    official gen_images.py). StyleGAN2 networks have no such input: a UserError says so."""
    check_number("--rotate", rotate)
    if not all(math.isfinite(t) for t in translate):
        raise UserError(f"--translate {translate} must be two finite numbers")
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
    check_number("--frames", frames, integer=True, low=1)
    check_number("--translate-max", translate_max)
    check_number("--rotate-max", rotate_max)
    check_generation_args(truncation_psi, None, batch_size)
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
