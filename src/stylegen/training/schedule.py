"""Learning-rate schedule of the StyleGAN trainer: constant, with an optional linear ramp-down.

The official StyleGAN2/3 code keeps both learning rates constant. A short run that stops while the
networks still move fast ends wherever the last steps left it; letting the rates fall linearly to
zero over the run's last fraction (as CycleGAN's second half does, Zhu et al. 2017) lets it
settle. The factor depends only on the image count, so a resumed run continues it exactly.
"""

from __future__ import annotations

__all__ = ["lr_factor"]


def lr_factor(cur_nimg: float, total_nimg: float, rampdown: float) -> float:
    """Multiplier of the base learning rates at `cur_nimg` of `total_nimg` images: 1 until the
    last `rampdown` fraction of the run, then falling linearly to 0 at its end."""
    if rampdown <= 0 or total_nimg <= 0:
        return 1.0
    start = total_nimg * (1.0 - rampdown)
    if cur_nimg <= start:
        return 1.0
    return max(0.0, (total_nimg - cur_nimg) / (total_nimg - start))
