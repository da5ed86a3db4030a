"""Exponential moving average (EMA) of generator weights.

StyleGAN (Karras et al. 2019) and StyleGAN2 (Karras et al. 2020) evaluate and ship a copy of G whose
weights are an exponential moving average of the trained G. The decay is given as a half-life in
thousands of images (``ema_kimg``); StyleGAN2-ADA adds a ramp-up that caps the half-life at
``cur_nimg * ema_rampup`` early in training, so the average does not lag behind a young network.
"""

from __future__ import annotations

import torch
from torch import nn

from stylegen.errors import UserError

__all__ = ["ema_beta", "update_ema"]


def ema_beta(
    batch_size: int, ema_kimg: float, ema_rampup: float | None, cur_nimg: int | float
) -> float:
    """Per-step EMA decay ``0.5 ** (batch_size / ema_nimg)`` for a half-life of ``ema_nimg`` images.

    ``ema_nimg = ema_kimg * 1000``, capped at ``cur_nimg * ema_rampup`` when ``ema_rampup`` is not
    None. A half-life of 0 images (e.g. at ``cur_nimg = 0`` with ramp-up) gives beta 0: the EMA
    copies the network.
    """
    if ema_kimg < 0:
        raise UserError(f"ema_kimg={ema_kimg} is negative; use a half-life >= 0, e.g. 10")
    if ema_rampup is not None and ema_rampup < 0:
        raise UserError(f"ema_rampup={ema_rampup} is negative; use e.g. 0.05, or None to disable")
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(ema_module: nn.Module, module: nn.Module, beta: float) -> None:
    """Move ``ema_module``'s parameters towards ``module``'s and copy its buffers.

    Each parameter becomes ``p + (p_ema - p) * beta`` (beta 1 keeps the EMA, beta 0 copies the
    network); buffers (e.g. ``w_avg``, noise constants) are copied exactly, as they are not trained.
    Both modules must have the same parameter and buffer names.
    """
    _update_pairs(ema_module.named_parameters(), module.named_parameters(), beta, "parameter")
    _update_pairs(ema_module.named_buffers(), module.named_buffers(), None, "buffer")


def _update_pairs(ema_items, items, beta: float | None, kind: str) -> None:
    """Lerp (``beta`` given) or copy (``beta`` None) each tensor of ``items`` into ``ema_items``."""
    ema_dict = dict(ema_items)
    src_dict = dict(items)
    if ema_dict.keys() != src_dict.keys():
        missing = sorted(src_dict.keys() ^ ema_dict.keys())
        raise ValueError(f"update_ema: {kind} names differ between the modules: {missing[:5]}")
    same, mixed = [], []  # same dtype and device: one multi-tensor call for all of them
    for name, dst in ema_dict.items():
        src = src_dict[name].detach()
        (same if (dst.dtype, dst.device) == (src.dtype, src.device) else mixed).append((dst, src))
    # torch.lerp is exact at both ends, so beta 0 copies and beta 1 keeps bit for bit; in place,
    # p_ema + (p - p_ema) * (1 - beta) is the same average as p + (p_ema - p) * beta.
    if same:
        dsts, srcs = [d for d, _ in same], [s for _, s in same]
        if beta is None:
            torch._foreach_copy_(dsts, srcs)
        else:
            torch._foreach_lerp_(dsts, srcs, 1.0 - beta)
    for dst, src in mixed:
        dst.copy_(src if beta is None else src.lerp(dst.to(src), beta))
