"""The super-resolution family on the shared trainer (kind "sr"): SRCNN (Dong et al. 2014) and
ESPCN (Shi et al. 2016), `stylegen train --arch srcnn|espcn --scale 2|3|4`.

Each minibatch takes dataset images in the baselines' epoch order (training/baselines_base.py),
cuts one random high-resolution patch from each (positions drawn from a generator seeded by the
run's seed and the minibatch index, so a resumed run sees the same patches without saving any
state), makes its low-resolution input by bicubic down-sampling (ops/resize.py), and takes one
Adam step on the MSE between the network's output and the patch. Reported: the MSE, the PSNR of
the minibatch and that of bicubic up-sampling on the same patches (the figure to beat), plotted
in losses.png. samples.png shows rows of bicubic | network | original for fixed images.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from stylegen import runs
from stylegen.data.datasets import ImageDataset
from stylegen.data.open import open_dataset
from stylegen.errors import UserError
from stylegen.images import float_to_uint8, make_grid, uint8_to_float
from stylegen.models.serialization import write_checkpoint_files
from stylegen.models.superres import ESPCN, SRCNN, ESPCNConfig, SRCNNConfig
from stylegen.ops.resize import bicubic_down, bicubic_up
from stylegen.training.baselines_base import EpochBatches, evaluating
from stylegen.training.sr_config import MIN_LR_PATCH, SRConfig, hr_patch
from stylegen.training.stats import Panel, StatsCollector
from stylegen.training.trainer import Family, ProgressFn, adam, optimizer_step, start_run

__all__ = ["SR", "SRStep", "build_upscaler", "resume", "train"]


def build_upscaler(cfg: SRConfig, channels: int) -> SRCNN | ESPCN:
    """The network of a resolved config for images with `channels` channels."""
    shape = dict(scale=cfg.scale, img_channels=channels, residual=not cfg.no_residual)
    if cfg.arch == "srcnn":
        return SRCNN(SRCNNConfig(**shape))
    return ESPCN(ESPCNConfig(**shape))


def _adam(net: SRCNN | ESPCN, lr: float) -> torch.optim.Adam:
    """Adam with the last layer at a tenth of the rate, as SRCNN's paper does: its zero-started
    correction would otherwise jump far from bicubic in the first steps."""
    last = list(net.body[-1].parameters())
    rest = [p for p in net.parameters() if all(p is not q for q in last)]
    return adam([{"params": rest, "lr": lr}, {"params": last, "lr": lr / 10}])


def _psnr(mse: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of a per-image MSE of [-1, 1] pixels (peak-to-peak 2)."""
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def _open_data(cfg: SRConfig) -> ImageDataset:
    return open_dataset(
        cfg.data,
        max_size=cfg.max_size,
        xflip=cfg.mirror,
        skip_bad=cfg.skip_bad,
        random_seed=cfg.seed,
    )


def _check(cfg: SRConfig, ds: ImageDataset) -> None:
    """Images too small for the scale fail before a run folder exists."""
    side = hr_patch(cfg.patch, cfg.arch, cfg.scale, ds.resolution)
    if side // cfg.scale < MIN_LR_PATCH:
        raise UserError(
            f"dataset {cfg.data} has {ds.resolution}x{ds.resolution} images: at --scale "
            f"{cfg.scale} their low-resolution versions are under {MIN_LR_PATCH} pixels; use a "
            "smaller --scale or larger images"
        )


class SRStep:
    """The upscaler, its Adam optimiser and the patch sampler."""

    kind: ClassVar[str] = "sr"
    divergence_hint: ClassVar[str] = "lower --lr"
    loss_panels: ClassVar[list[Panel]] = [
        (
            "PSNR on training patches (dB)",
            [("Loss/SR/psnr", "network"), ("Loss/SR/psnr_bicubic", "bicubic")],
        ),
    ]
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("mse", "Loss/SR/mse"),
        ("psnr", "Loss/SR/psnr"),
        ("bicubic", "Loss/SR/psnr_bicubic"),
    ]

    def __init__(self, cfg: SRConfig, ds: ImageDataset, device: torch.device) -> None:
        self.cfg, self.ds, self.device = cfg, ds, device
        self.batch = cfg.batch
        self.total_nimg = int(cfg.kimg * 1000)
        self.patch = hr_patch(cfg.patch, cfg.arch, cfg.scale, ds.resolution)
        self.batches = EpochBatches(ds, cfg.batch, cfg.seed)
        self.net = build_upscaler(cfg, ds.num_channels).to(device).train()
        self.opt = _adam(self.net, cfg.lr)
        self.stats = StatsCollector()
        self.iteration = 0
        idx = np.random.default_rng(123).choice(len(ds), min(8, len(ds)), replace=False)
        self.grid_hr = torch.from_numpy(np.stack([ds[int(i)][0] for i in idx]))

    def patches(self, batch_idx: int) -> torch.Tensor:
        """Float [B, C, P, P] high-resolution patches of minibatch `batch_idx`: one random
        crop per image, positions a function of (seed, batch_idx)."""
        img, _ = self.batches.get(batch_idx)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + batch_idx + 1)
        h, w, p = img.shape[-2], img.shape[-1], self.patch
        ys = torch.randint(h - p + 1, (img.shape[0],), generator=gen).tolist()
        xs = torch.randint(w - p + 1, (img.shape[0],), generator=gen).tolist()
        crops = [im[:, y : y + p, x : x + p] for im, y, x in zip(img, ys, xs)]
        return uint8_to_float(torch.stack(crops).to(self.device))  # uint8 over the bus

    def train_step(self, cur_nimg: int, batch_idx: int) -> torch.Tensor | int:
        hr = self.patches(batch_idx)
        lr = bicubic_down(hr, self.cfg.scale)
        pred = self.net(lr)
        mse = (pred - hr).square().flatten(1).mean(1)
        loss = mse.mean()
        skipped = optimizer_step(self.opt, loss)
        with torch.no_grad():
            base = (bicubic_up(lr, self.cfg.scale).clamp(-1, 1) - hr).square().flatten(1).mean(1)
            out = (pred.detach().clamp(-1, 1) - hr).square().flatten(1).mean(1)
        self.stats.report("Loss/SR/mse", mse.detach())
        self.stats.report("Loss/SR/psnr", _psnr(out))
        self.stats.report("Loss/SR/psnr_bicubic", _psnr(base))
        self.iteration = batch_idx + 1
        return skipped

    def tick_stats(self) -> dict[str, Any]:
        return {"Progress/epoch": self.iteration / self.batches.per_epoch}

    def sample_grid(self) -> np.ndarray:
        """Rows of bicubic | network | original for 8 fixed images (cut to a multiple of the
        scale), nearest-enlarged to at least 64 pixels so the differences show."""
        s = self.cfg.scale
        hr = uint8_to_float(self.grid_hr)
        side = hr.shape[-1] // s * s
        hr = hr[..., :side, :side].to(self.device)
        lr = bicubic_down(hr, s)
        with evaluating(self.net):
            out = self.net(lr).clamp(-1, 1)
        rows = torch.stack([bicubic_up(lr, s).clamp(-1, 1), out, hr], dim=1).flatten(0, 1)
        zoom = max(1, -(-64 // side))
        rows = F.interpolate(rows, scale_factor=zoom, mode="nearest")
        return make_grid(float_to_uint8(rows).cpu(), ncols=3)

    def preview_reals(self) -> np.ndarray:
        gen = torch.Generator().manual_seed(54321)
        idx = torch.randint(len(self.ds), (64,), generator=gen).tolist()
        return make_grid(np.stack([self.ds[i][0] for i in idx]), ncols=8)

    def metrics_target(self) -> None:
        return None  # FID and friends judge generators; bench_sr.py measures PSNR / SSIM

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        meta = {**metadata, "dataset": self.cfg.data, "arch": self.cfg.arch}
        write_checkpoint_files(self.net, folder, meta)

    def network(self) -> torch.nn.Module:
        """A copy of the upscaler in eval mode (benchmarks)."""
        return copy.deepcopy(self.net).eval()

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "rng_torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng_torch"])
        self.iteration = int(state["counters"][1])


SR = Family(
    kind="sr",
    title="super-resolution (SRCNN/ESPCN)",
    config_cls=SRConfig,
    open_data=_open_data,
    build_step=SRStep,
    run_name=lambda cfg: runs.run_name(cfg.data, f"{cfg.arch}-x{cfg.scale}-{cfg.preset}"),
    check=_check,
)

FAMILY = SR  # the name training/families.py looks up


def train(cfg: SRConfig, progress: ProgressFn | None = None) -> Path:
    """Start a new super-resolution run under cfg.outdir; returns the final snapshot."""
    return start_run(SR, cfg, progress)


def resume(
    run_dir: str | os.PathLike, progress: ProgressFn | None = None, kimg: float | None = None
) -> Path:
    """Continue a super-resolution run from its newest snapshot."""
    from stylegen.training.families import resume as resume_any

    return resume_any(run_dir, progress, kimg=kimg)
