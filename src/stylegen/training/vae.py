"""The VAE step (Kingma & Welling 2014; conditional: Sohn et al. 2015; beta weight: Higgins et
al. 2017): maximise ELBO = E_q[log p(x | z)] - beta * KL(q(z | x) || p(z)) with one
reparameterised sample per image, Adam. Reported each step: the ELBO (nats per image, at
beta = 1), the reconstruction term -E_q[log p(x | z)] and the KL; every snapshot holds
reconstructions.png (input | reconstruction). The checkpoint is the whole VAE (encoder and
decoder), so `stylegen reconstruct` and `stylegen generate` both load it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stylegen.data.datasets import ImageDataset
from stylegen.images import float_to_uint8, make_grid, uint8_to_float
from stylegen.models.vae import VAE
from stylegen.training import losses
from stylegen.training.baselines_base import BaselineStep, build_vae, evaluating
from stylegen.training.baselines_config import BaselineConfig
from stylegen.training.stats import Panel
from stylegen.training.trainer import adam, optimizer_step

__all__ = ["VAEStep", "vae_terms"]


def vae_terms(
    vae: VAE,
    img: torch.Tensor,
    c: torch.Tensor | None,
    eps: torch.Tensor,
    likelihood: str,
    sigma: float | None = None,
) -> dict[str, torch.Tensor]:
    """Per-sample ELBO terms of images in [-1, 1] with noise eps [N, z_dim]: `recon` =
    -log p(x | z) at z = mu + sigma_q * eps (pixels on the [0, 1] scale), `kl` = KL(q || p) in
    closed form, `elbo` = -(recon + kl); nats per image."""
    target = (img + 1) / 2
    mu, logvar = vae.encode(img, c)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = vae.decode_logits(z, c)
    if likelihood == "bernoulli":
        log_lik = losses.bernoulli_log_likelihood(logits, target)
    else:
        log_lik = losses.gaussian_log_likelihood(torch.sigmoid(logits), target, float(sigma))
    kl = losses.gaussian_kl(mu, logvar)
    return {"recon": -log_lik, "kl": kl, "elbo": log_lik - kl}


class VAEStep(BaselineStep):
    """The VAE and its Adam optimiser: one reparameterised ELBO step per minibatch."""

    kind: ClassVar[str] = "baseline"
    loss_panels: ClassVar[list[Panel]] = [
        ("ELBO (nats per image)", [("Loss/VAE/elbo", "ELBO")]),
        ("ELBO terms", [("Loss/VAE/recon", "reconstruction -log p(x|z)"), ("Loss/VAE/kl", "KL")]),
    ]
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("elbo", "Loss/VAE/elbo"),
        ("recon", "Loss/VAE/recon"),
        ("kl", "Loss/VAE/kl"),
    ]

    def __init__(self, cfg: BaselineConfig, ds: ImageDataset, device: torch.device) -> None:
        super().__init__(cfg, ds, device)
        self.vae = build_vae(cfg, ds.resolution, ds.num_channels, self.c_dim).to(device).train()
        betas = (cfg.beta1, cfg.beta2)
        self.opt = adam(self.vae.parameters(), lr=cfg.lr, betas=betas)
        self.grid_z, self.grid_c = self._grid_latents(cfg.z_dim)
        self.recon_img, self.recon_c = self._recon_inputs()

    def train_step(self, cur_nimg: int, batch_idx: int) -> torch.Tensor | int:
        cfg = self.cfg
        self.iteration = batch_idx
        real, c = self._real(batch_idx)
        eps = self._noise(real.shape[0], cfg.z_dim)
        terms = vae_terms(self.vae, real, c, eps, cfg.likelihood, cfg.sigma)
        loss = terms["recon"] + cfg.beta_kl * terms["kl"]
        skipped = optimizer_step(self.opt, loss.mean())
        for name in ("elbo", "recon", "kl"):
            self.stats.report(f"Loss/VAE/{name}", terms[name].detach())
        self.stats.report("Loss/VAE/loss", loss.detach())
        self.iteration = batch_idx + 1
        return skipped

    def _recon_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """32 fixed training images (and labels) for reconstructions.png."""
        idx = np.random.default_rng(123).choice(len(self.ds), min(32, len(self.ds)), False)
        items = [self.ds[int(i)] for i in idx]
        img = uint8_to_float(torch.from_numpy(np.stack([im for im, _ in items])))
        c = torch.from_numpy(np.stack([lab for _, lab in items]).astype(np.float32))
        return img, (c if self.c_dim else None)

    def snapshot_images(self) -> dict[str, np.ndarray]:
        """reconstructions.png: pairs input | reconstruction (posterior mean), 4 pairs a row."""
        with evaluating(self.vae):
            c = self.recon_c.to(self.device) if self.recon_c is not None else None
            rec = self.vae.reconstruct(self.recon_img.to(self.device), c).cpu()
        pairs = torch.stack([self.recon_img, rec], dim=1).flatten(0, 1)
        return {"reconstructions.png": make_grid(float_to_uint8(pairs), ncols=8)}

    def sample_grid(self) -> np.ndarray:
        return self._sample(self.vae)

    def metrics_target(self) -> tuple[torch.nn.Module, Any]:
        return copy.deepcopy(self.vae).eval(), self.ds

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        meta = {**metadata, "likelihood": self.cfg.likelihood, "beta_kl": self.cfg.beta_kl}
        self._save(self.vae, folder, meta)

    def state_dict(self) -> dict[str, Any]:
        return {
            "vae": self.vae.state_dict(),
            "opt": self.opt.state_dict(),
            "rng_torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.vae.load_state_dict(state["vae"])
        self.opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng_torch"])
        self.iteration = int(state["counters"][1])
