"""One discriminator call for fakes and reals: packing two minibatches without mixing them.

Dmain scores N fakes and N reals. Two D calls of N images cost on a CPU nearly twice one call of
2N (each layer's fixed cost per call dominates at the small batches of short runs), so the
shared-fakes step (training/stylegan.py) scores both in one call. The only cross-sample layer in
D is the minibatch-std feature (Karras et al. 2018, section 3), which views a batch as
[G, N/G, ...] and puts sample n in group n % (N/G). Concatenating the two batches naively would
put fake n and real n in one group; `pack_pairs` instead lays the two batches side by side in
that view, so the packed call forms exactly the groups of the two separate calls and every
logit is the one the separate call would give.
"""

from __future__ import annotations

import torch
from torch import nn

from stylegen.models.layers import MinibatchStdLayer

__all__ = ["pack_group", "pack_pairs", "unpack_pairs"]


def pack_group(D: nn.Module, n: int) -> int | None:
    """The group size that packs two batches of `n` for `D` without changing its groups, or None
    when the packed batch of 2n would be grouped differently from two batches of n (a group size
    of 0 = the whole batch, or one larger than n), so the two must be scored separately."""
    groups = {m.group_size for m in D.modules() if isinstance(m, MinibatchStdLayer)}
    if not groups:
        return 1  # no cross-sample layer: plain concatenation is exact
    if len(groups) > 1:
        return None
    group = groups.pop()
    if group == 0 or group > n or n % group:
        return None
    return group


def pack_pairs(a: torch.Tensor, b: torch.Tensor, group: int) -> torch.Tensor:
    """[N, ...] and [N, ...] -> [2N, ...] whose minibatch-std groups (size `group`) are a's
    groups followed by b's."""
    if a.shape != b.shape:
        raise ValueError(f"pack_pairs: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    n, rest = a.shape[0], a.shape[1:]
    view = (group, n // group, *rest)
    return torch.cat([a.reshape(view), b.reshape(view)], dim=1).reshape(2 * n, *rest)


def unpack_pairs(x: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of `pack_pairs` for D's outputs: [2N, ...] -> the a part and the b part."""
    rest = x.shape[1:]
    y = x.reshape(group, -1, *rest)
    half = y.shape[1] // 2
    return y[:, :half].reshape(-1, *rest), y[:, half:].reshape(-1, *rest)
