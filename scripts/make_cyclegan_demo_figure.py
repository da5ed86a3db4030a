"""Draw docs/cyclegan-demo.png from a trained CycleGAN run: rows of input | translation |
reconstruction, A -> B -> A on the left and B -> A -> B on the right, enlarged for the README.

    python scripts/make_cyclegan_demo_figure.py RUN_DIR [--out docs/cyclegan-demo.png]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from PIL import Image

from stylegen.data.open import open_dataset
from stylegen.images import make_grid, resize_to, save_image, uint8_to_float
from stylegen.training.cyclegan import translation_grid
from stylegen.translate import load_translator, run_options


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", help="CycleGAN run or snapshot folder")
    p.add_argument("--out", default="docs/cyclegan-demo.png")
    p.add_argument("--rows", type=int, default=6)
    p.add_argument("--scale", type=int, default=3, help="nearest-neighbour enlargement")
    p.add_argument("--seed", type=int, default=2024, help="which images to show")
    args = p.parse_args()

    options = run_options(args.run)
    G_AB, G_BA = load_translator(args.run, "a2b"), load_translator(args.run, "b2a")
    size = G_AB.config.img_resolution
    reals = []
    for spec in (options["data_a"], options["data_b"]):
        ds = open_dataset(spec)
        idx = np.random.default_rng(args.seed).choice(len(ds), size=args.rows, replace=False)
        imgs = torch.from_numpy(np.stack([ds[int(i)][0] for i in idx]))
        reals.append(resize_to(uint8_to_float(imgs), size))
    grid = translation_grid(G_AB, G_BA, reals[0], reals[1])  # [C, rows*size, 6*size]
    # Re-tile with white gutters so the black Fashion-MNIST backgrounds stay apart.
    c = grid.shape[0]
    tiles = (
        grid.reshape(c, args.rows, size, 6, size)
        .transpose(1, 3, 0, 2, 4)
        .reshape(-1, c, size, size)
    )
    tiles = np.pad(tiles, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=255)
    out = make_grid(tiles, ncols=6)
    img = Image.fromarray(out[0] if c == 1 else out.transpose(1, 2, 0))
    img = img.resize((img.width * args.scale, img.height * args.scale), Image.Resampling.NEAREST)
    arr = np.array(img)  # a writable copy
    save_image(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1), args.out)
    print(json.dumps({"out": args.out, "run": args.run, "rows": args.rows}))


if __name__ == "__main__":
    main()
