"""Convolutional variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational
Bayes") and its class-conditional form (Sohn, Lee & Yan 2015, "Learning Structured Output
Representation using Deep Conditional Generative Models").

One module holds both halves, so one checkpoint folder serves `stylegen generate` (the decoder,
z -> image) and `stylegen reconstruct` (encoder then decoder):

- encoder q(z | x, c): stride-2 4x4 convs with ReLU from the image down to 4x4 (channels doubling
  from `channels` up to `channel_max`), flattened, the one-hot label joined, one linear layer to
  the Gaussian posterior's mean and log-variance [N, z_dim] each;
- decoder p(x | z, c): [z, c] -> linear -> 4x4 map -> stride-2 4x4 transposed convs with ReLU back
  to the image; it returns per-pixel logits. Pixel intensities in [0, 1] are sigmoid(logits):
  the Bernoulli mean, or the Gaussian mean under a Gaussian likelihood (training/losses reads
  them either way; the network itself does not depend on the choice).

Images are float [-1, 1] at the edges, as everywhere in stylegen. `G(z, c, truncation_psi=...,
noise_mode=...)` follows `stylegen.generate`: psi scales z towards the prior's mean 0 and
`noise_mode` is accepted and ignored (no noise inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stylegen.config import check_resolution
from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.gan import generator_input
from stylegen.models.registry import register_model

__all__ = ["VAE", "VAEConfig"]


@dataclass
class VAEConfig:
    z_dim: int = 32
    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 1
    channels: int = 32  # first encoder layer (last decoder layer); doubled towards 4x4
    channel_max: int = 256

    def validate(self) -> VAEConfig:
        check_resolution(self.img_resolution)
        if self.img_resolution < 8:
            raise UserError(f"VAE: img_resolution {self.img_resolution} must be >= 8")
        if self.img_channels not in (1, 3):
            raise UserError(f"VAE: img_channels {self.img_channels} must be 1 (grey) or 3 (RGB)")
        for name in ("z_dim", "channels", "channel_max"):
            if getattr(self, name) < 1:
                raise UserError(f"VAE: {name} {getattr(self, name)} must be a positive integer")
        if self.c_dim < 0:
            raise UserError(f"VAE: c_dim {self.c_dim} must be >= 0")
        return self

    def widths(self) -> list[int]:
        """Channels after each stride-2 encoder layer (the decoder runs them backwards)."""
        n = int(math.log2(self.img_resolution)) - 2
        return [min(self.channels * 2**i, self.channel_max) for i in range(n)]


@register_model("vae.VAE")
class VAE(ConfiguredModule):
    """Encoder + decoder; `forward(z, c)` decodes to an image [N, C, H, W] in [-1, 1]."""

    config_class = VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = cfg = config.validate()
        self.z_dim, self.c_dim = cfg.z_dim, cfg.c_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        widths = cfg.widths()
        enc: list[nn.Module] = []
        ch = cfg.img_channels
        for w in widths:
            enc += [nn.Conv2d(ch, w, 4, 2, 1), nn.ReLU(True)]
            ch = w
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.posterior = nn.Linear(ch * 16 + cfg.c_dim, 2 * cfg.z_dim)
        self.decoder_in = nn.Sequential(nn.Linear(cfg.z_dim + cfg.c_dim, ch * 16), nn.ReLU(True))
        dec: list[nn.Module] = []
        for w in reversed([cfg.img_channels, *widths[:-1]]):
            dec.append(nn.ConvTranspose2d(ch, w, 4, 2, 1))
            dec.append(nn.ReLU(True))
            ch = w
        self.decoder = nn.Sequential(*dec[:-1])  # logits: no activation after the last layer
        self._top = widths[-1]

    def encode(
        self, img: torch.Tensor, c: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior q(z | x, c) = N(mu, exp(logvar)) of images in [-1, 1]: (mu, logvar)."""
        h = self.encoder(img.to(torch.float32))
        h = generator_input(h, c, self.c_dim)  # [features, c]
        mu, logvar = self.posterior(h).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Per-pixel logits [N, C, H, W] of p(x | z, c); sigmoid gives intensities in [0, 1]."""
        h = self.decoder_in(generator_input(z, c, self.c_dim))
        return self.decoder(h.view(-1, self._top, 4, 4))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        z = generator_input(z, None, 0, truncation_psi, truncation_cutoff)
        return torch.sigmoid(self.decode_logits(z, c)) * 2 - 1

    def reconstruct(
        self, img: torch.Tensor, c: torch.Tensor | None = None, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Images [-1, 1] -> encode -> decode -> images [-1, 1]. `eps` (standard normal noise
        [N, z_dim]) draws z = mu + sigma * eps from the posterior; None decodes its mean."""
        mu, logvar = self.encode(img, c)
        z = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps.to(mu)
        return torch.sigmoid(self.decode_logits(z, c)) * 2 - 1
