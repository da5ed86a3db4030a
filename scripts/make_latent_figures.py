"""Draw the README's style-control figures from a trained generator (the demo network):
docs/latent-mixing.png, docs/latent-interpolation.gif, docs/latent-projection.png and
docs/latent-edit.png, enlarged with nearest-neighbour scaling. Uses only the latent/ library.

    python scripts/make_latent_figures.py RUN_OR_CHECKPOINT --fashion-dir DIR [--outdir docs]

DIR holds Fashion-MNIST's IDX files (the Debian package dataset-fashion-mnist); the projection
figure uses test-split images, which the demo never saw.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from stylegen.checkpoint import load
from stylegen.images import make_grid, save_image
from stylegen.latent.config import ProjectionConfig
from stylegen.latent.directions import sefa
from stylegen.latent.edit import edit_grid, edit_images
from stylegen.latent.interpolate import interpolation_frames
from stylegen.latent.layers import style_groups
from stylegen.latent.mixing import mixing_grid, style_mix
from stylegen.latent.perceptual import load_perceptual
from stylegen.latent.project import project
from stylegen.latent.video import write_video
from stylegen.latent.ws import ws_from_seeds


def enlarge(img: np.ndarray, scale: int) -> np.ndarray:
    return np.asarray(img).repeat(scale, axis=-2).repeat(scale, axis=-1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("network")
    p.add_argument("--fashion-dir", type=Path, required=True)
    p.add_argument("--outdir", type=Path, default=Path("docs"))
    p.add_argument("--scale", type=int, default=3)
    p.add_argument("--steps", type=int, default=1000)
    args = p.parse_args()
    torch.set_num_threads(2)
    G = load(args.network)
    s = args.scale

    mix = style_mix(G, [85, 100, 75, 458], [55, 821, 1789, 293, 1000], style_groups(G)["coarse"])
    save_image(enlarge(mixing_grid(mix), s), args.outdir / "latent-mixing.png")

    frames = interpolation_frames(G, list(range(8)), 48, space="w", loop=True, grid=(2, 2))
    write_video(frames, args.outdir / "latent-interpolation.gif", fps=12, scale=s)

    from stylegen.data.builtin import fashion_mnist_arrays

    images, _ = fashion_mnist_arrays(args.fashion_dir)
    targets = torch.from_numpy(np.array(images[60000:60006]))
    perceptual = load_perceptual(min_size=64)
    rows = [targets]
    for space in ("w", "w+"):
        rows.append(project(G, targets, perceptual, ProjectionConfig(space, args.steps)).images)
    grid = make_grid(torch.cat(rows), ncols=len(targets), pad=2)
    save_image(enlarge(grid, s), args.outdir / "latent-projection.png")

    d = sefa(G)
    ws = ws_from_seeds(G, [3, 11, 25, 42])
    edits = edit_images(G, ws, d.vectors[0], [-6, -3, 0, 3, 6], list(range(G.num_ws)))
    save_image(enlarge(edit_grid(edits), s), args.outdir / "latent-edit.png")
    print(f"wrote 4 figures to {args.outdir}")


if __name__ == "__main__":
    main()
