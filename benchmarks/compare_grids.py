"""Sample grids of several generators side by side in one labelled figure (issue 20 item 5).

Each panel shows the first 64 of the images that FID@2k scores: for a stylegen network the
demo protocol's own samples (`bench_demo_fid.sampler_for`: fixed seeds, uniform classes); for a
peer run of `bench_peers.py` the first 64 EMA images of its `images.npz`; `real` shows the first
64 Fashion-MNIST training images the FID compares against.

    python benchmarks/compare_grids.py --out docs/peers-grid.png \
        "stylegen make demo, FID 55.1=runs/demo/00000-fashion-mnist-cpu32-fast-cond" \
        "stylegan2-pytorch defaults, FID 354=/path/to/peers/stylegan2-defaults" \
        "Fashion-MNIST (real)=real"

A panel is LABEL=SOURCE; SOURCE is `real`, a stylegen run folder / checkpoint, or a
bench_peers.py output folder (one with images.npz).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import stylegen  # noqa: E402
from stylegen.data import open_dataset  # noqa: E402
from stylegen.images import make_grid, save_figure_atomic  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_demo_fid import sampler_for  # noqa: E402

NUM = 64


def panel_images(source: str) -> np.ndarray:
    """uint8 [64, C, 32, 32] for one panel."""
    if source == "real":
        ds = open_dataset("fashion-mnist")
        return np.stack([np.asarray(ds[i][0]) for i in range(NUM)])
    path = Path(source)
    if (path / "images.npz").is_file():
        return np.load(path / "images.npz")["ema"][:NUM]
    G = stylegen.load(source)
    return sampler_for(G)(NUM, 0).numpy()


def grey_to_rgb(grid: np.ndarray) -> np.ndarray:
    """[C, H, W] -> [H, W, 3] so grey and RGB panels share one colour map."""
    img = grid.transpose(1, 2, 0)
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("panels", nargs="+", help="LABEL=SOURCE (SOURCE: real, run or peer folder)")
    ap.add_argument("--out", required=True, help="PNG to write")
    args = ap.parse_args()
    torch.set_num_threads(1)
    panels = []
    for spec in args.panels:
        label, sep, source = spec.rpartition("=")
        if not sep or not label:
            raise SystemExit(f"error: panel '{spec}' is not LABEL=SOURCE")
        grid = make_grid(panel_images(source), ncols=8, pad=1)
        panels.append((label, grey_to_rgb(grid)))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0))
    for ax, (label, img) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(label.replace(", ", "\n", 1), fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    print(save_figure_atomic(fig, Path(args.out)))


if __name__ == "__main__":
    main()
