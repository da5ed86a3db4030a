"""The adversarial step of the baseline GANs: `gan` (Goodfellow et al. 2014), `dcgan` (Radford
et al. 2016) and `cgan` (Mirza & Osindero 2014; projection D, Miyato & Koyama 2018).

Per minibatch, as the DCGAN paper and PyTorch's DCGAN example do: D on real images and on G(z)
(binary cross-entropy on logits, i.e. the logistic loss), one Adam step; then G with the
non-saturating loss -log D(G(z)) on the same G(z), one Adam step. Conditional runs feed the real
batch's labels to both networks. Reported each step: the G and D losses, D's accuracy (the
fraction of reals with D(x) > 0.5 and of fakes with D(G(z)) < 0.5, drawn into accuracy.png) and
the mean D(x) and D(G(z)). A snapshot's checkpoint is G; D is in training_state.pt.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stylegen.data.datasets import ImageDataset
from stylegen.training import losses
from stylegen.training.baselines_base import BaselineStep, build_gan
from stylegen.training.baselines_config import BaselineConfig
from stylegen.training.stats import Panel
from stylegen.training.trainer import adam, optimizer_step

__all__ = ["ACCURACY_PANELS", "AdversarialStep", "d_accuracy"]

ACCURACY_PANELS: list[Panel] = [
    (
        "Discriminator accuracy",
        [("Accuracy/D/real", "real: D(x) > 0.5"), ("Accuracy/D/fake", "fake: D(G(z)) < 0.5")],
    ),
    ("Discriminator outputs", [("Prob/D_real", "mean D(x)"), ("Prob/D_fake", "mean D(G(z))")]),
]


def d_accuracy(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample correctness of D as 0/1 floats: D(x) > 0.5 on reals, D(G(z)) < 0.5 on fakes
    (logit > 0 is D > 0.5)."""
    return (real_logits > 0).float(), (fake_logits < 0).float()


class AdversarialStep(BaselineStep):
    """G, D and their Adam optimisers (gan, dcgan, cgan): D then G, once per minibatch."""

    kind: ClassVar[str] = "baseline"
    loss_panels: ClassVar[list[Panel]] = []
    figures: ClassVar[dict[str, list[Panel]]] = {"accuracy.png": ACCURACY_PANELS}
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("G", "Loss/G/loss"),
        ("D", "Loss/D/loss"),
        ("acc_real", "Accuracy/D/real"),
        ("acc_fake", "Accuracy/D/fake"),
    ]

    def __init__(self, cfg: BaselineConfig, ds: ImageDataset, device: torch.device) -> None:
        super().__init__(cfg, ds, device)
        G, D = build_gan(cfg, ds.resolution, ds.num_channels, self.c_dim)
        self.G, self.D = G.to(device).train(), D.to(device).train()
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_D = adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        self.grid_z, self.grid_c = self._grid_latents(cfg.z_dim)

    def train_step(self, cur_nimg: int, batch_idx: int) -> torch.Tensor | int:
        self.iteration = batch_idx
        real, c = self._real(batch_idx)
        fake = self.G(self._noise(real.shape[0], self.cfg.z_dim), c)

        self.D.requires_grad_(True)
        real_logits = self.D(real, c)
        fake_logits = self.D(fake.detach(), c)
        loss_real, loss_fake = losses.d_logistic_loss(real_logits, fake_logits)
        loss_D = loss_real + loss_fake
        skipped = optimizer_step(self.opt_D, loss_D.mean())

        self.D.requires_grad_(False)
        loss_G = losses.g_nonsaturating_loss(self.D(fake, c))
        skipped += optimizer_step(self.opt_G, loss_G.mean())

        acc_real, acc_fake = d_accuracy(real_logits.detach(), fake_logits.detach())
        report = self.stats.report
        report("Loss/G/loss", loss_G.detach())
        report("Loss/D/loss", loss_D.detach())
        report("Accuracy/D/real", acc_real)
        report("Accuracy/D/fake", acc_fake)
        report("Prob/D_real", torch.sigmoid(real_logits.detach()))
        report("Prob/D_fake", torch.sigmoid(fake_logits.detach()))
        self.iteration = batch_idx + 1
        return skipped

    def sample_grid(self) -> np.ndarray:
        return self._sample(self.G)

    def metrics_target(self) -> tuple[torch.nn.Module, Any]:
        return copy.deepcopy(self.G).eval(), self.ds  # eval: batch norm's running statistics

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        self._save(self.G, folder, metadata)

    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "rng_torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("G", "D", "opt_G", "opt_D"):
            getattr(self, name).load_state_dict(state[name])
        torch.set_rng_state(state["rng_torch"])
        self.iteration = int(state["counters"][1])
