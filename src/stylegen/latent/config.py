"""Settings of the style-control tools that the CLI reads its flag defaults from: the latent
spaces, projection (Karras et al. 2020, the official StyleGAN2-ADA projector's constants) and
pivotal tuning (Roich et al. 2021, the authors' defaults). Imports no torch, so `stylegen --help`
stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from stylegen.errors import UserError

__all__ = ["SPACES", "PTIConfig", "ProjectionConfig", "check_space"]

SPACES = ("w", "w+")


def check_space(space: str, allowed: tuple[str, ...] = SPACES, what: str = "--space") -> str:
    """Return `space` lower-cased if it is one of `allowed`, else a UserError naming them."""
    value = str(space).strip().lower()
    if value not in allowed:
        raise UserError(f"{what} {space!r} is unknown; use {' or '.join(allowed)}")
    return value


@dataclass
class ProjectionConfig:
    """Projection settings; the defaults are the official projector's."""

    space: str = "w"
    steps: int = 1000
    w_avg_samples: int = 10000
    initial_lr: float = 0.1
    initial_noise_factor: float = 0.05
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    optimize_noise: bool = True
    log_every: int = 100
    keep_history: bool = False  # ws after every step (for the progress video)
    seed: int = 303  # the official projector's default

    def validate(self) -> ProjectionConfig:
        self.space = check_space(self.space)
        if self.steps < 1:
            raise UserError(f"--steps {self.steps} must be >= 1")
        if self.w_avg_samples < 2:
            raise UserError(f"--w-avg-samples {self.w_avg_samples} must be >= 2")
        if self.log_every < 1:
            raise UserError(f"--log-every {self.log_every} must be >= 1")
        if self.initial_lr <= 0:
            raise UserError(f"--lr {self.initial_lr} must be > 0")
        return self


@dataclass
class PTIConfig:
    """Pivotal tuning settings (the authors' defaults: 350 steps of Adam at 3e-4, L2 weight 1)."""

    steps: int = 350
    lr: float = 3e-4
    l2_weight: float = 1.0
    log_every: int = 50

    def validate(self) -> PTIConfig:
        if self.steps < 1:
            raise UserError(f"--pti-steps {self.steps} must be >= 1")
        if self.lr <= 0:
            raise UserError(f"--pti-lr {self.lr} must be > 0")
        if self.log_every < 1:
            raise UserError(f"PTI log_every {self.log_every} must be >= 1")
        return self
