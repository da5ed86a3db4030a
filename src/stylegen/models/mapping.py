"""Mapping network (z, c) -> ws of StyleGAN (Karras et al. 2019) as used by StyleGAN2/3.

z and the embedded class label are each normalised to unit second moment and concatenated, then
passed through `num_layers` leaky-ReLU dense layers with learning-rate multiplier 0.01. The running
mean `w_avg` (decay `w_avg_beta`) is the centre for the truncation trick.

`cond_weight` scales the embedded label before the concatenation: transitional training
(Shahbazi et al. 2022, "Collapse by Conditioning: Training Class-conditional GANs with Limited
Data") ramps it from 0 (an unconditional mapping) to 1 (the standard conditional one). It is a
training-time setting, not a parameter: checkpoints do not store it and load with 1.
"""

from __future__ import annotations

import torch
from torch import nn

from stylegen.models.layers import FullyConnectedLayer, normalize_2nd_moment

__all__ = ["MappingNetwork", "generator_mapping"]


class MappingNetwork(nn.Module):
    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        self.cond_weight = 1.0  # transitional training's lambda(t); 1 = the standard mapping
        embed_features = w_dim if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        if c_dim == 0:
            embed_features = 0
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(
                features[idx],
                features[idx + 1],
                activation=activation,
                lr_multiplier=lr_multiplier,
            )
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            assert z is not None and z.shape[1] == self.z_dim, "z has the wrong shape"
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            assert c is not None and c.shape[1] == self.c_dim, "c has the wrong shape"
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            # Only scaled while a transition is under way, so lambda = 1 is bit-identical.
            parts.append(y * self.cond_weight if self.cond_weight != 1 else y)
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        if update_emas and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            assert self.w_avg_beta is not None, "truncation needs w_avg"
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


def generator_mapping(config, num_ws: int) -> MappingNetwork:
    """The mapping network of a StyleGAN2 or StyleGAN3 generator config (they share its fields)."""
    return MappingNetwork(
        z_dim=config.z_dim,
        c_dim=config.c_dim,
        w_dim=config.w_dim,
        num_ws=num_ws,
        num_layers=config.mapping_layers,
        lr_multiplier=config.mapping_lr_multiplier,
        w_avg_beta=config.w_avg_beta,
    )
