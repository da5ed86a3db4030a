"""A mixture of generators: each sample comes from one member, chosen in proportion to the
members' weights (an ensemble that does not blur, unlike averaging the members' images; see
e.g. Tolstikhin et al. 2017, "AdaGAN", and Arora et al. 2017, "Generalization and Equilibrium in
GANs", for mixtures of generators).

The mixture looks like one generator to `stylegen.generate`, the metrics and the explorer:
`G(z, c, **kwargs)` with `z_dim` one more than the largest member's. A seed's z (RandomState(seed),
stylegen/generate.py) then decides everything: its last coordinate, through the normal CDF a
uniform number independent of the rest, picks the member against the cumulative weights; the
member gets the first `member.z_dim` coordinates, which are exactly the z the member itself draws
for that seed (RandomState draws them in order). So the mixture's image for seed s is member k's
own image for seed s, and the member choice is independent of the member's latent.

The members are loaded by stylegen/checkpoint.py from an ensemble folder (config.json listing
member paths and weights, no weights file); this module only combines loaded networks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ENSEMBLE_CLASS", "Mixture", "pick_members"]

ENSEMBLE_CLASS = "ensemble.Mixture"  # the model_class of an ensemble folder's config.json


def pick_members(u: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """Member index per uniform number u in [0, 1): the first k with u < cumsum(w)[k] / sum(w).
    Members of weight 0 are never picked."""
    w = torch.tensor([float(x) for x in weights], dtype=torch.float64)
    edges = torch.cumsum(w, 0) / w.sum()
    idx = torch.searchsorted(edges, u.double().cpu(), right=True)
    return idx.clamp(max=len(w) - 1)


class Mixture(nn.Module):
    """Generators with the same output (resolution, channels, classes) sampled by weight."""

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.weights = [float(w) for w in weights]
        first = members[0]
        self.img_resolution = int(first.img_resolution)
        self.img_channels = int(first.img_channels)
        self.c_dim = int(getattr(first, "c_dim", 0))
        self.z_dim = max(int(m.z_dim) for m in members) + 1

    def member_of(self, z: torch.Tensor) -> torch.Tensor:
        """The member index of every row of z [N, z_dim] (CPU int64 [N])."""
        u = torch.special.ndtr(z[:, -1].double().cpu())  # Phi(z_last) ~ Uniform(0, 1)
        return pick_members(u, self.weights)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        which = self.member_of(z)
        out = None
        for k, member in enumerate(self.members):
            rows = (which == k).nonzero().flatten().to(z.device)
            if rows.numel() == 0:
                continue
            zk = z[rows, : int(member.z_dim)]
            img = member(zk, c[rows] if c is not None else None, **kwargs)
            if out is None:
                out = img.new_empty((z.shape[0], *img.shape[1:]))
            out[rows] = img
        return out
