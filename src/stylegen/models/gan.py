"""Baseline GAN networks: the MLP GAN (Goodfellow et al. 2014, "Generative Adversarial Nets"),
DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks") and their class-conditional forms: the one-hot
label joined to z and to the discriminator's input (Mirza & Osindero 2014, "Conditional
Generative Adversarial Nets"), or a projection discriminator (Miyato & Koyama 2018, "cGANs with
Projection Discriminator").

- MLP generator: z (+ one-hot c) -> 256 -> 512 -> 1024 -> C*H*W, tanh; leaky ReLU 0.2, batch norm
  on every hidden layer but the first (the widely used PyTorch-GAN layout).
- MLP discriminator: image (+ one-hot c) -> 512 -> 256 -> 1 logit, leaky ReLU 0.2.
- DCGAN generator: z (+ c) as a 1x1 map -> 4x4 transposed conv, then stride-2 4x4 transposed
  convs that halve the channels and double the size up to the image, batch norm + ReLU, tanh out.
- DCGAN discriminator: stride-2 4x4 convs that double the channels down to 4x4, leaky ReLU 0.2,
  batch norm on all but the first, a 4x4 conv to one logit. Weights start as the paper says:
  N(0, 0.02), batch-norm scales N(1, 0.02).

Discriminators return logits [N, 1] (D(x) = sigmoid(logit)). With `cond_mode="concat"` the label is
joined to the input (as extra constant channels for DCGAN); with "projection" the logit gains
<embed(c), phi(x)>, phi being the last hidden features (summed over positions for DCGAN).

The generators follow the calling convention of `stylegen.generate`: `G(z, c, truncation_psi=...,
noise_mode=...)` and the attributes `z_dim`, `c_dim`, `img_resolution`, `img_channels`. With one
z and no noise inputs, `truncation_psi` scales z towards its mean 0 (the truncation trick's
meaning for a plain z; 1 = off), `noise_mode` is accepted and ignored, and `truncation_cutoff`
(StyleGAN's per-layer ws) is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from stylegen.config import check_choice, check_resolution
from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.registry import register_model

__all__ = [
    "COND_MODES",
    "DCGANDiscriminator",
    "DCGANDiscriminatorConfig",
    "DCGANGenerator",
    "DCGANGeneratorConfig",
    "MLPDiscriminator",
    "MLPDiscriminatorConfig",
    "MLPGenerator",
    "MLPGeneratorConfig",
    "count_parameters",
    "generator_input",
]

COND_MODES = ("concat", "projection")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _check_common(what: str, cfg: Any, fields: tuple[str, ...]) -> None:
    check_resolution(cfg.img_resolution)
    if cfg.img_channels not in (1, 3):
        raise UserError(f"{what}: img_channels {cfg.img_channels} must be 1 (grey) or 3 (RGB)")
    if cfg.c_dim < 0:
        raise UserError(f"{what}: c_dim {cfg.c_dim} must be >= 0")
    for name in fields:
        if getattr(cfg, name) < 1:
            raise UserError(f"{what}: {name} {getattr(cfg, name)} must be a positive integer")


def generator_input(
    z: torch.Tensor,
    c: torch.Tensor | None,
    c_dim: int,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
) -> torch.Tensor:
    """[z * psi, c] for a generator with one z: the input every baseline generator shares."""
    if truncation_cutoff is not None:
        raise UserError(
            "truncation_cutoff picks StyleGAN's per-layer ws; this generator has a single z: "
            "leave out --trunc-cutoff"
        )
    z = z.to(torch.float32)
    if truncation_psi != 1:
        z = z * truncation_psi
    if not c_dim:
        return z
    if c is None or c.shape != (z.shape[0], c_dim):
        got = None if c is None else tuple(c.shape)
        raise ValueError(f"a conditional generator needs labels c of shape [N, {c_dim}], got {got}")
    return torch.cat([z, c.to(z.dtype)], dim=1)


class _Projection(nn.Module):
    """<embed(c), phi> (Miyato & Koyama 2018), added to the unconditional logit."""

    def __init__(self, c_dim: int, features: int) -> None:
        super().__init__()
        self.embed = nn.Linear(c_dim, features, bias=False)

    def forward(self, phi: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (self.embed(c.to(phi.dtype)) * phi).sum(dim=1, keepdim=True)


def _check_labels(c: torch.Tensor | None, n: int, c_dim: int) -> torch.Tensor:
    if c is None or c.shape != (n, c_dim):
        got = None if c is None else tuple(c.shape)
        raise ValueError(f"a conditional discriminator needs labels [N, {c_dim}], got {got}")
    return c


# ---------------------------------------------------------------------------------------------
# MLP GAN (Goodfellow et al. 2014) and its conditional form (Mirza & Osindero 2014)


@dataclass
class MLPGeneratorConfig:
    z_dim: int = 100
    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 1
    hidden: tuple[int, ...] = (256, 512, 1024)

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)  # JSON gives a list

    def validate(self) -> MLPGeneratorConfig:
        _check_common("MLP generator", self, ("z_dim",))
        if not self.hidden or min(self.hidden) < 1:
            raise UserError(f"MLP generator: hidden {list(self.hidden)} must be positive widths")
        return self


@register_model("gan.MLPGenerator")
class MLPGenerator(ConfiguredModule):
    """z [N, z_dim] (+ one-hot c [N, c_dim]) -> image [N, C, H, W] in [-1, 1]."""

    config_class = MLPGeneratorConfig

    def __init__(self, config: MLPGeneratorConfig) -> None:
        super().__init__()
        self.config = cfg = config.validate()
        self.z_dim, self.c_dim = cfg.z_dim, cfg.c_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        layers: list[nn.Module] = []
        width = cfg.z_dim + cfg.c_dim
        for i, h in enumerate(cfg.hidden):
            layers.append(nn.Linear(width, h))
            if i > 0:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.LeakyReLU(0.2))
            width = h
        layers += [nn.Linear(width, cfg.img_channels * cfg.img_resolution**2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        x = generator_input(z, c, self.c_dim, truncation_psi, truncation_cutoff)
        res = self.img_resolution
        return self.net(x).view(-1, self.img_channels, res, res)


@dataclass
class MLPDiscriminatorConfig:
    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 1
    hidden: tuple[int, ...] = (512, 256)
    cond_mode: str = "concat"  # how a label enters: concat (Mirza & Osindero) or projection

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)

    def validate(self) -> MLPDiscriminatorConfig:
        _check_common("MLP discriminator", self, ())
        check_choice("cond mode", self.cond_mode, COND_MODES)
        if not self.hidden or min(self.hidden) < 1:
            raise UserError(f"MLP discriminator: hidden {list(self.hidden)} must be positive")
        return self


@register_model("gan.MLPDiscriminator")
class MLPDiscriminator(ConfiguredModule):
    """image [N, C, H, W] (+ one-hot c) -> logit [N, 1]."""

    config_class = MLPDiscriminatorConfig

    def __init__(self, config: MLPDiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg = config.validate()
        self.c_dim = cfg.c_dim
        self.concat = cfg.c_dim > 0 and cfg.cond_mode == "concat"
        width = cfg.img_channels * cfg.img_resolution**2 + (cfg.c_dim if self.concat else 0)
        layers: list[nn.Module] = []
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(width, 1)
        self.projection = _Projection(cfg.c_dim, width) if cfg.c_dim and not self.concat else None

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = img.flatten(1).to(torch.float32)
        if self.c_dim:
            c = _check_labels(c, x.shape[0], self.c_dim)
        if self.concat:
            x = torch.cat([x, c.to(x.dtype)], dim=1)
        phi = self.features(x)
        logit = self.out(phi)
        if self.projection is not None:
            logit = logit + self.projection(phi, c)
        return logit


# ---------------------------------------------------------------------------------------------
# DCGAN (Radford et al. 2016)


def _stages(resolution: int) -> int:
    """Stride-2 layers between 4x4 and the image."""
    return int(math.log2(resolution)) - 2


def dcgan_init_(module: nn.Module) -> None:
    """The paper's initialisation: conv weights N(0, 0.02); batch norm scale N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@dataclass
class DCGANGeneratorConfig:
    z_dim: int = 100
    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 1
    ngf: int = 64  # channels before the output layer; doubled per layer towards 4x4

    def validate(self) -> DCGANGeneratorConfig:
        _check_common("DCGAN generator", self, ("z_dim", "ngf"))
        if self.img_resolution < 8:
            raise UserError(f"DCGAN: img_resolution {self.img_resolution} must be >= 8")
        return self


@register_model("dcgan.Generator")
class DCGANGenerator(ConfiguredModule):
    """z [N, z_dim] (+ one-hot c) -> image [N, C, H, W] in [-1, 1]."""

    config_class = DCGANGeneratorConfig

    def __init__(self, config: DCGANGeneratorConfig) -> None:
        super().__init__()
        self.config = cfg = config.validate()
        self.z_dim, self.c_dim = cfg.z_dim, cfg.c_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        n = _stages(cfg.img_resolution)
        ch = cfg.ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cfg.z_dim + cfg.c_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, cfg.img_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        x = generator_input(z, c, self.c_dim, truncation_psi, truncation_cutoff)
        return self.net(x[:, :, None, None])


@dataclass
class DCGANDiscriminatorConfig:
    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 1
    ndf: int = 64  # channels of the first layer; doubled per layer towards 4x4
    cond_mode: str = "concat"

    def validate(self) -> DCGANDiscriminatorConfig:
        _check_common("DCGAN discriminator", self, ("ndf",))
        check_choice("cond mode", self.cond_mode, COND_MODES)
        if self.img_resolution < 8:
            raise UserError(f"DCGAN: img_resolution {self.img_resolution} must be >= 8")
        return self


@register_model("dcgan.Discriminator")
class DCGANDiscriminator(ConfiguredModule):
    """image [N, C, H, W] (+ one-hot c) -> logit [N, 1]."""

    config_class = DCGANDiscriminatorConfig

    def __init__(self, config: DCGANDiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg = config.validate()
        self.c_dim = cfg.c_dim
        self.concat = cfg.c_dim > 0 and cfg.cond_mode == "concat"
        ch = cfg.ndf
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.img_channels + (cfg.c_dim if self.concat else 0), ch, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
        ]
        for _ in range(_stages(cfg.img_resolution) - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        self.features = nn.Sequential(*layers)
        self.out = nn.Conv2d(ch, 1, 4, 1, 0)
        self.projection = _Projection(cfg.c_dim, ch) if cfg.c_dim and not self.concat else None
        dcgan_init_(self)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = img.to(torch.float32)
        if self.c_dim:
            c = _check_labels(c, x.shape[0], self.c_dim)
        if self.concat:
            maps = c.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, maps], dim=1)
        h = self.features(x)
        logit = self.out(h).flatten(1)
        if self.projection is not None:
            logit = logit + self.projection(h.sum(dim=(2, 3)), c)
        return logit
