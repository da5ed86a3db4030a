"""Style mixing (Karras et al. 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks", section 3.1 and figure 3), as the official style_mixing.py draws it.

Each row seed's ws keeps its own styles except at the chosen ws indices (`styles`), which are
copied from the column seed. The grid has an empty top-left cell, the unmixed column-seed images
along the top row and the unmixed row-seed images down the first column; cell (r, c) is row seed r
with column seed c's styles. Which indices are coarse / middle / fine: latent/layers.py.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.images import save_image
from stylegen.latent.ws import render_ws, ws_from_seeds

__all__ = ["MixingResult", "mix_ws", "mixing_grid", "style_mix", "write_mixing"]

log = logging.getLogger(__name__)


def mix_ws(row_ws: torch.Tensor, col_ws: torch.Tensor, styles: list[int]) -> torch.Tensor:
    """[R, num_ws, w_dim] x [C, num_ws, w_dim] -> [R, C, num_ws, w_dim]: row ws with the column's
    rows `styles` copied in."""
    mixed = row_ws.unsqueeze(1).repeat(1, col_ws.shape[0], 1, 1)
    mixed[:, :, styles] = col_ws.unsqueeze(0)[:, :, styles]
    return mixed


@dataclass
class MixingResult:
    """Images of a style-mixing run: unmixed[seed] and mixed[(row_seed, col_seed)] (uint8 CHW)."""

    row_seeds: list[int]
    col_seeds: list[int]
    styles: list[int]
    unmixed: dict[int, torch.Tensor]
    mixed: dict[tuple[int, int], torch.Tensor]


def style_mix(
    G: nn.Module,
    row_seeds: list[int],
    col_seeds: list[int],
    styles: list[int],
    truncation_psi: float = 1.0,
    class_idx: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> MixingResult:
    """Render the unmixed seeds and every (row, column) mix; `styles` are ws indices
    (parse them with latent.layers.parse_styles)."""
    if not row_seeds or not col_seeds:
        raise UserError("style mixing needs at least one row seed and one column seed")
    bad = [s for s in styles if not 0 <= s < G.num_ws]
    if bad or not styles:
        raise UserError(f"style indices {styles} must lie in 0-{G.num_ws - 1}")
    seeds = list(dict.fromkeys(row_seeds + col_seeds))
    ws = ws_from_seeds(G, seeds, truncation_psi, class_idx=class_idx, device=device)
    by_seed = dict(zip(seeds, ws))
    kw = dict(noise_mode=noise_mode, batch_size=batch_size, device=device)
    unmixed = dict(zip(seeds, render_ws(G, ws, **kw)))
    row_ws = torch.stack([by_seed[s] for s in row_seeds])
    col_ws = torch.stack([by_seed[s] for s in col_seeds])
    mixed_ws = mix_ws(row_ws, col_ws, styles).flatten(0, 1)
    images = render_ws(G, mixed_ws, **kw)
    pairs = [(r, c) for r in row_seeds for c in col_seeds]
    log.info("style mixing: %d seeds, %d mixes, styles %s", len(seeds), len(pairs), styles)
    return MixingResult(
        list(row_seeds), list(col_seeds), list(styles), unmixed, dict(zip(pairs, images))
    )


def mixing_grid(result: MixingResult) -> np.ndarray:
    """uint8 [C, (R + 1) H, (C + 1) W]: black corner, column seeds on top, row seeds on the left."""
    c, h, w = next(iter(result.unmixed.values())).shape
    rows, cols = len(result.row_seeds) + 1, len(result.col_seeds) + 1
    grid = np.zeros((c, rows * h, cols * w), dtype=np.uint8)

    def put(r: int, col: int, img: torch.Tensor) -> None:
        grid[:, r * h : (r + 1) * h, col * w : (col + 1) * w] = img.numpy()

    for j, seed in enumerate(result.col_seeds):
        put(0, j + 1, result.unmixed[seed])
    for i, row_seed in enumerate(result.row_seeds):
        put(i + 1, 0, result.unmixed[row_seed])
        for j, col_seed in enumerate(result.col_seeds):
            put(i + 1, j + 1, result.mixed[(row_seed, col_seed)])
    return grid


def write_mixing(result: MixingResult, outdir: str | os.PathLike, singles: bool = True) -> Path:
    """Write grid.png and (with `singles`) one `<row>-<col>.png` per cell, as the official script
    names them (`<seed>-<seed>.png` for the unmixed images); every file is written atomically."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    grid = outdir / "grid.png"
    save_image(mixing_grid(result), grid)
    if singles:
        for seed, img in result.unmixed.items():
            save_image(img, outdir / f"{seed}-{seed}.png")
        for (r, c), img in result.mixed.items():
            save_image(img, outdir / f"{r}-{c}.png")
    return grid
