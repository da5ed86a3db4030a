"""Super-resolution: SRCNN (Dong et al. 2014) and ESPCN (Shi et al. 2016) against bicubic, x2/x3/x4,
PSNR and SSIM on luminance with a border of `scale` pixels cropped (metrics/sr_quality.py), and
speed in images/s at 128x128 output.

Two data sets, each with its own upscalers trained from seed 0 through the family's step
(`trainer.new_step`, the code `stylegen train --arch srcnn|espcn` runs) for `--minutes` of CPU
time (time.process_time, so a shared machine does not shorten the budget), one thread:

- Fashion-MNIST (32x32 grey): trained on the 60,000 training images (preset cpu32), scored on
  500 held-out test images (the last 10,000 of the built-in set);
- photos: trained on 48x48 luminance crops of skimage's other sample images (rocket, moon, coins,
  brick, ...), scored on the luminance of the classic astronaut, camera, coffee and chelsea, as
  the SR papers train on one set of photos and test on another (Set5 / Set14).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sr.py [--minutes 1.5] [--out table.md]

Needs scikit-image (`pip install scikit-image`) for the photos and its SSIM check.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import numpy as np
import torch

from stylegen.data import open_dataset
from stylegen.images import float_to_uint8, uint8_to_float
from stylegen.metrics.sr_quality import luminance, sr_psnr, sr_ssim
from stylegen.ops.resize import bicubic_down, bicubic_up
from stylegen.training.sr import SR
from stylegen.training.sr_config import SRConfig
from stylegen.training.trainer import new_step

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PHOTOS = (
    "rocket",
    "immunohistochemistry",
    "moon",
    "coins",
    "page",
    "text",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
)
TEST_PHOTOS = ("astronaut", "camera", "coffee", "chelsea")
SCALES = (2, 3, 4)
ARCHES = ("srcnn", "espcn")


class ArrayData:
    """The few members of ImageDataset the SR step reads, over uint8 images [N, C, R, R]."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.resolution, self.num_channels = images.shape[-1], images.shape[1]
        self.label_dim, self.has_labels = 0, False

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[i], np.zeros(0, np.float32)


def _y_uint8(name: str) -> np.ndarray:
    """uint8 [1, H, W] luminance (BT.601, rounded) of an skimage sample image (alpha dropped)."""
    import skimage.data

    arr = getattr(skimage.data, name)()
    img = torch.from_numpy(np.ascontiguousarray(arr[..., :3] if arr.ndim == 3 else arr))
    img = img[None, None] if img.ndim == 2 else img.permute(2, 0, 1)[None]
    return luminance(img.to(torch.uint8))[0].round().clamp(0, 255).to(torch.uint8).numpy()


def photo_sets(crops_per_photo: int = 400, side: int = 48) -> tuple[ArrayData, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    crops = []
    for name in TRAIN_PHOTOS:
        y = _y_uint8(name)
        h, w = y.shape[-2:]
        for _ in range(crops_per_photo):
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            crops.append(y[:, top : top + side, left : left + side])
    test = [_y_uint8(name) for name in TEST_PHOTOS]
    return ArrayData(np.stack(crops)), test


def fashion_sets(held_out: int = 500) -> tuple[ArrayData, list[np.ndarray]]:
    ds = open_dataset("fashion-mnist")
    n = len(ds)
    train_n = n - 10_000 if n >= 70_000 else n - held_out  # the test split is the last 10,000
    train = np.stack([ds[i][0] for i in range(train_n)])
    idx = np.random.default_rng(0).choice(np.arange(train_n, n), held_out, replace=False)
    return ArrayData(train), [ds[int(i)][0] for i in idx]


def train_for(arch: str, scale: int, data: ArrayData, minutes: float, patch: int) -> tuple:
    cfg = SRConfig(data="(in memory)", arch=arch, scale=scale, patch=patch, kimg=1e6, threads=1)
    step = new_step(SR, cfg, data)
    start, i = time.process_time(), 0
    while time.process_time() - start < minutes * 60:
        step.train_step(i * step.batch, i)
        i += 1
    return step.network(), i * step.batch


@torch.no_grad()
def score(net, images: list[np.ndarray], scale: int) -> dict[str, float]:
    """Mean PSNR / SSIM on Y of the network and of bicubic over `images` (uint8 [1, H, W])."""
    rows = {"psnr": [], "ssim": [], "psnr_bicubic": [], "ssim_bicubic": []}
    for img in images:
        h, w = (s // scale * scale for s in img.shape[-2:])
        hr = torch.from_numpy(np.ascontiguousarray(img[None, :, :h, :w]))
        lr = bicubic_down(uint8_to_float(hr), scale)
        outs = {"": net(lr).clamp(-1, 1), "_bicubic": bicubic_up(lr, scale).clamp(-1, 1)}
        for suffix, out in outs.items():
            out = float_to_uint8(out)  # scored as saved: 8-bit
            rows["psnr" + suffix].append(sr_psnr(out, hr, scale).item())
            rows["ssim" + suffix].append(sr_ssim(out, hr, scale).item())
    return {k: float(np.mean(v)) for k, v in rows.items()}


@torch.no_grad()
def speed(net, scale: int, threads: int, batch: int = 16, repeats: int = 3) -> float:
    """Images/s of 128x128 outputs (low-resolution side 128 / scale, rounded up)."""
    torch.set_num_threads(threads)
    lr = torch.rand(batch, net.img_channels, -(-128 // scale), -(-128 // scale)) * 2 - 1
    net(lr)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        net(lr)
        best = min(best, time.perf_counter() - t)
    torch.set_num_threads(1)
    return batch / best


def speed_table(threads: int) -> None:
    """images/s at 128x128 output for every model and scale, one thread and `threads`."""
    data = ArrayData(np.zeros((64, 1, 48, 48), np.uint8))
    print(
        f"## bench_sr.py --speed-only — {datetime.datetime.now():%Y-%m-%d %H:%M} "
        f"({platform.machine()}, torch {torch.__version__}, batch 16, best of 3)\n\n"
        f"| model | scale | img/s 1 thread | img/s {threads} threads |\n|---|---:|---:|---:|"
    )
    for arch in ARCHES:
        for scale in SCALES:
            cfg = SRConfig(data="(in memory)", arch=arch, scale=scale, patch=36, kimg=1, threads=1)
            net = new_step(SR, cfg, data).network()
            one, many = speed(net, scale, 1), speed(net, scale, threads)
            print(f"| {arch} | x{scale} | {one:.0f} | {many:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="CPU minutes per model")
    parser.add_argument("--threads", type=int, default=2, help="threads of the speed test")
    parser.add_argument("--sets", default="fashion,photos")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only images/s at 128x128 output, 1 and --threads threads, of untrained networks "
        "(the same FLOPs as trained ones); run it alone on the machine",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.speed_only:
        speed_table(args.threads)
        return
    sets = {"fashion": (fashion_sets, 24), "photos": (photo_sets, 36)}
    lines = [
        f"## bench_sr.py — {datetime.datetime.now():%Y-%m-%d %H:%M} ({platform.machine()}, "
        f"torch {torch.__version__}, {args.minutes:g} CPU min per model, 1 thread)",
        "",
        "| data | scale | model | kimg | PSNR Y | SSIM Y | bicubic PSNR | bicubic SSIM "
        f"| gain dB | img/s @128 ({args.threads} thr) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for set_name in args.sets.split(","):
        make, patch = sets[set_name]
        train, test = make()
        for scale in SCALES:
            for arch in ARCHES:
                net, nimg = train_for(arch, scale, train, args.minutes, patch)
                s = score(net, test, scale)
                ips = speed(net, scale, args.threads)
                gain = s["psnr"] - s["psnr_bicubic"]
                line = (
                    f"| {set_name} | x{scale} | {arch} | {nimg / 1000:.0f} | {s['psnr']:.2f} | "
                    f"{s['ssim']:.4f} | {s['psnr_bicubic']:.2f} | {s['ssim_bicubic']:.4f} | "
                    f"{gain:+.2f} | {ips:.0f} |"
                )
                print(line, flush=True)
                lines.append(line)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
