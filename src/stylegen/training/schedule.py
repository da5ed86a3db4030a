"""Learning-rate schedules: constant, then a linear fall to zero.

CycleGAN (Zhu et al. 2017) keeps its rate for `epochs` and then lets it fall linearly to zero over
`decay_epochs` (training/cyclegan.py). The official StyleGAN2/3 code keeps both rates constant;
`--lr-rampdown F` lets them fall the same way over a run's last fraction F, so that a short run
that stops while the networks still move fast can settle. Both factors depend only on progress
(epochs, images), so a resumed run continues them exactly.
"""

from __future__ import annotations

__all__ = ["linear_decay", "rampdown_factor"]


def linear_decay(progress: float, flat: float, decay: float) -> float:
    """Multiplier 1 until `progress` reaches `flat`, then linearly down to 0 at `flat + decay`
    (always 1 when `decay` is 0)."""
    if progress < flat or decay == 0:
        return 1.0
    return max(0.0, 1.0 - (progress - flat) / decay)


def rampdown_factor(cur_nimg: float, total_nimg: float, rampdown: float) -> float:
    """Multiplier of the base learning rates at `cur_nimg` of `total_nimg` images: 1 until the
    last `rampdown` fraction of the run, then falling linearly to 0 at its end."""
    return linear_decay(cur_nimg, total_nimg * (1.0 - rampdown), total_nimg * rampdown)
