"""Pure loss and regularisation functions for GAN training.

Everything here works on tensors and callables only; nothing knows a model class. The formulas
follow StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN") and
the behaviour of its official PyTorch training code:

- non-saturating logistic loss for G and the logistic loss for D (Goodfellow et al. 2014);
- R1 gradient penalty on real images (Mescheder et al. 2018), weighted by ``gamma / 2``;
- path length regularisation with a running mean of the lengths (StyleGAN2, section 3.2);
- style mixing regularisation (StyleGAN, Karras et al. 2019, section 3.1);
- the optimiser correction for lazy regularisation (StyleGAN2, section 3.1);
- least-squares GAN, cycle and identity losses for CycleGAN (Zhu et al. 2017);
- StyleGAN3's blur of the images D sees, faded out early in training (Karras et al. 2021);
- the VAE's evidence lower bound (Kingma & Welling 2014): the Gaussian posterior's KL to the
  standard normal prior in closed form, Bernoulli and Gaussian pixel log-likelihoods.
- WGAN-GP (Gulrajani et al. 2017) with ProGAN's drift term (Karras et al. 2018, appendix A.1).

The GAN losses return one value per sample so that the caller can report them as statistics before
taking the mean; the CycleGAN losses return the scalar mean, as that paper defines them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from stylegen.errors import UserError
from stylegen.ops import filter2d

__all__ = [
    "bernoulli_log_likelihood",
    "blur_images",
    "blur_sigma",
    "cycle_loss",
    "d_logistic_loss",
    "g_nonsaturating_loss",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "identity_loss",
    "lazy_reg_params",
    "lsgan_loss",
    "path_length_penalty",
    "r1_loss",
    "r1_penalty",
    "style_mixing_ws",
    "wgan_d_loss",
    "wgan_gp_penalty",
]


# ---------------------------------------------------------------------------------------------
# Logistic GAN losses


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-log(sigmoid(l)) = softplus(-l)``, one value per element.

    The caller takes the mean; keeping the per-sample values lets them be reported as statistics.
    """
    return F.softplus(-fake_logits)


def d_logistic_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logistic discriminator loss, split into its real and fake halves (per sample).

    Returns ``(softplus(-real_logits), softplus(fake_logits))``, i.e. ``-log(sigmoid(real))`` and
    ``-log(1 - sigmoid(fake))``. The two halves are separate because the real half is computed in
    the same pass as R1 while the fake half is not; the D loss is their per-sample sum.
    """
    return F.softplus(-real_logits), F.softplus(fake_logits)


# ---------------------------------------------------------------------------------------------
# R1 gradient penalty


def r1_penalty(real_img: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """Squared gradient norm of D at the real images, one value per sample: ``||dD(x)/dx||^2``.

    ``real_img`` must have ``requires_grad=True`` and ``real_logits`` must have been computed from
    it. Summing the logits before differentiating is exact because sample n's logit depends only on
    image n. The graph is kept (``create_graph=True``) so that the penalty can be back-propagated
    into D's weights. The loss term is ``r1_penalty * (gamma / 2)``; see :func:`r1_loss`.
    """
    if not real_img.requires_grad:
        raise ValueError(
            "r1_penalty: real_img must require grad; call real_img.detach().requires_grad_(True) "
            "before running D on it"
        )
    (grads,) = torch.autograd.grad(
        outputs=[real_logits.sum()], inputs=[real_img], create_graph=True, only_inputs=True
    )
    return grads.square().flatten(1).sum(1)


def r1_loss(penalty: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 loss term ``penalty * (gamma / 2)``, the weighting used by StyleGAN2 (per sample)."""
    return penalty * (gamma / 2)


# ---------------------------------------------------------------------------------------------
# Path length regularisation


def _randn_like(
    ref: torch.Tensor, generator: torch.Generator | None, shape: Sequence[int] | None = None
) -> torch.Tensor:
    """Standard normal noise with ``ref``'s dtype and device, drawn from ``generator`` if given.

    The noise is drawn on the generator's own device (a CPU generator gives the same numbers on any
    device), then moved next to ``ref``.
    """
    size = tuple(ref.shape if shape is None else shape)
    if generator is None:
        return torch.randn(size, dtype=ref.dtype, device=ref.device)
    noise = torch.randn(size, dtype=ref.dtype, device=generator.device, generator=generator)
    return noise.to(ref.device)


def path_length_penalty(
    fake_img: torch.Tensor,
    ws: torch.Tensor,
    pl_mean: torch.Tensor | float,
    decay: float = 0.01,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Path length penalty of StyleGAN2 (section 3.2), one value per sample.

    For random image-space noise ``y ~ N(0, I) / sqrt(H * W)``, the length of ``J_w^T y`` (the
    Jacobian of the image with respect to ``ws``) is measured per sample as
    ``sqrt(mean over ws of the squared norm over w_dim)``. The running mean of these lengths is
    moved towards the batch mean by ``decay`` (``pl_mean.lerp(lengths.mean(), decay)``) and the
    penalty is ``(lengths - new_mean)^2``.

    Args:
        fake_img: generated images ``[N, C, H, W]``, computed from ``ws``.
        ws: the latents fed to synthesis ``[N, num_ws, w_dim]``; must be part of the graph.
        pl_mean: the running mean of the lengths so far (a scalar; 0 at the start of training).
        decay: how far the running mean moves towards the batch mean per call.
        generator: optional ``torch.Generator`` for the noise ``y`` (drawn as
            ``torch.randn(fake_img.shape, generator=generator, dtype=fake_img.dtype)`` on the
            generator's device).

    Returns:
        ``(penalty [N], new_pl_mean (scalar, detached), pl_lengths [N])``. As in the official
        code, the penalty uses the new mean *with* its graph, so a small part of the gradient flows
        through the batch mean; the returned ``new_pl_mean`` is detached for the caller to store.
        The loss term is ``penalty * pl_weight``.
    """
    if not 0.0 <= decay <= 1.0:
        raise UserError(f"pl_decay={decay} is outside [0, 1]; use a small value such as 0.01")
    if fake_img.ndim != 4:
        raise ValueError(
            f"path_length_penalty: fake_img must be [N, C, H, W], got {fake_img.shape}"
        )
    if ws.ndim != 3:
        raise ValueError(f"path_length_penalty: ws must be [N, num_ws, w_dim], got {ws.shape}")
    if not ws.requires_grad:
        raise ValueError("path_length_penalty: ws must require grad and be the input of synthesis")
    height, width = fake_img.shape[2], fake_img.shape[3]
    pl_noise = _randn_like(fake_img, generator) / math.sqrt(height * width)
    (grads,) = torch.autograd.grad(
        outputs=[(fake_img * pl_noise).sum()], inputs=[ws], create_graph=True, only_inputs=True
    )
    pl_lengths = grads.square().sum(2).mean(1).sqrt()
    old_mean = torch.as_tensor(pl_mean, dtype=pl_lengths.dtype, device=pl_lengths.device)
    new_mean = old_mean.detach().lerp(pl_lengths.mean(), decay)
    penalty = (pl_lengths - new_mean).square()
    return penalty, new_mean.detach(), pl_lengths


# ---------------------------------------------------------------------------------------------
# Style mixing regularisation


def style_mixing_ws(
    mapping_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    z: torch.Tensor,
    c: torch.Tensor,
    ws: torch.Tensor,
    prob: float,
    generator: torch.Generator | None = None,
    num_active: int | None = None,
) -> torch.Tensor:
    """Style mixing regularisation: replace the ws after a random cutoff by those of a second z.

    As in the official code, one decision is made for the whole batch: the cutoff is drawn
    uniformly from ``[1, num_ws - 1]``, and with probability ``1 - prob`` it is set to ``num_ws``
    (no mixing). When mixing, ``ws[:, cutoff:]`` is replaced by ``mapping_fn(z2, c)[:, cutoff:]``
    for a fresh ``z2 ~ N(0, I)`` shaped like ``z``.

    Args:
        mapping_fn: ``(z, c) -> ws``; pass a closure that does not update ``w_avg`` (the official
            code calls its mapping with ``skip_w_avg_update=True`` here).
        z, c: the latents and labels that produced ``ws`` (c is passed through unchanged).
        ws: ``[N, num_ws, w_dim]`` from ``mapping_fn(z, c)``.
        prob: probability of mixing this batch, in [0, 1].
        generator: optional ``torch.Generator`` for the coin, the cutoff and ``z2``.
        num_active: draw the cutoff among the first ``num_active`` ws only (StyleGAN 2019 while
            growing: the layers of the resolutions grown so far); default all.

    Returns:
        A new tensor (``ws`` is not modified in place); ``ws`` itself when no mixing happens. The
        coin and the cutoff are always drawn when ``prob > 0``, so the random stream does not depend
        on the outcome; the second mapping runs only when mixing happens.
    """
    if not 0.0 <= prob <= 1.0:
        raise UserError(
            f"style_mixing_prob={prob} is outside [0, 1]; use e.g. 0.9, or 0 to disable"
        )
    num_ws = ws.shape[1] if num_active is None else min(num_active, ws.shape[1])
    if prob == 0 or num_ws < 2:
        return ws
    device = generator.device if generator is not None else torch.device("cpu")
    cutoff = int(torch.randint(1, num_ws, (), generator=generator, device=device))
    if float(torch.rand((), generator=generator, device=device)) >= prob:
        return ws
    z2 = _randn_like(z, generator)
    ws2 = mapping_fn(z2, c)
    if ws2.shape != ws.shape:
        raise ValueError(f"style_mixing_ws: mapping_fn gave {ws2.shape}, expected {ws.shape}")
    return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)


# ---------------------------------------------------------------------------------------------
# WGAN-GP (ProGAN)


def wgan_gp_penalty(
    mixed: torch.Tensor, mixed_scores: torch.Tensor, target: float = 1.0, grad_scale: float = 1.0
) -> torch.Tensor:
    """``(||dD(x)/dx|| * grad_scale - target)^2`` per sample at the interpolated images ``mixed``.

    ``mixed`` must require grad and ``mixed_scores`` come from it; as in the official code the
    gradient is that of the summed scores (minibatch-std couples the samples). ``grad_scale``
    measures the norm as if taken at a larger image: D sees a progressive network's images at the
    current resolution, the official code at full resolution after nearest up-sampling by k, whose
    box-filtered gradient has norm 1/k of ours; pass ``1/k``. The graph is kept for D's update.
    """
    if not mixed.requires_grad:
        raise ValueError("wgan_gp_penalty: mixed must require grad")
    (grads,) = torch.autograd.grad(
        outputs=[mixed_scores.sum()], inputs=[mixed], create_graph=True, only_inputs=True
    )
    norms = grads.square().flatten(1).sum(1).sqrt() * grad_scale
    return (norms - target).square()


def wgan_d_loss(
    real_scores: torch.Tensor,
    fake_scores: torch.Tensor,
    penalty: torch.Tensor,
    wgan_lambda: float = 10.0,
    target: float = 1.0,
    drift: float = 0.001,
) -> torch.Tensor:
    """ProGAN's D loss per sample: ``D(fake) - D(real) + lambda / target^2 * penalty
    + drift * D(real)^2`` (the official D_wgan_gp; the G loss is ``-D(fake)``)."""
    real, fake = real_scores.flatten(), fake_scores.flatten()
    return fake - real + penalty * (wgan_lambda / target**2) + real.square() * drift


# ---------------------------------------------------------------------------------------------
# Lazy regularisation


def lazy_reg_params(
    lr: float, betas: Sequence[float], reg_interval: int
) -> tuple[float, tuple[float, ...]]:
    """Adam settings for a network whose regulariser runs only every ``reg_interval`` minibatches.

    With lazy regularisation the optimiser steps ``reg_interval + 1`` times per ``reg_interval``
    main steps, so StyleGAN2 scales the learning rate by ``ratio = interval / (interval + 1)`` and
    raises each beta to the power ``ratio`` to keep the same effective step size and momentum
    half-life. Returns ``(lr * ratio, tuple(beta ** ratio))``.
    """
    if isinstance(reg_interval, bool) or not isinstance(reg_interval, int) or reg_interval < 1:
        raise UserError(
            f"reg_interval={reg_interval!r} must be an integer >= 1 (e.g. 4 for G, 16 for D)"
        )
    ratio = reg_interval / (reg_interval + 1)
    return lr * ratio, tuple(beta**ratio for beta in betas)


# ---------------------------------------------------------------------------------------------
# CycleGAN losses


def lsgan_loss(pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean of ``(pred - t)^2`` with ``t = 1`` for real and 0 for fake."""
    target = 1.0 if target_is_real else 0.0
    return (pred - target).square().mean()


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Cycle-consistency loss: mean absolute difference (L1) between ``F(G(x))`` and ``x``."""
    return (reconstructed - original).abs().mean()


def identity_loss(mapped: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Identity loss: L1 mean between ``G(y)`` and ``y`` for an image ``y`` already in G's target
    domain; CycleGAN weights it by ``lambda_identity * lambda_cycle``."""
    return (mapped - original).abs().mean()


# ---------------------------------------------------------------------------------------------
# StyleGAN3 discriminator blur


def blur_sigma(cur_nimg: int, init_sigma: float, fade_kimg: float) -> float:
    """Blur strength at `cur_nimg`: `init_sigma` faded linearly to 0 over `fade_kimg`."""
    if fade_kimg <= 0 or init_sigma <= 0:
        return 0.0
    return max(1 - cur_nimg / (fade_kimg * 1e3), 0.0) * init_sigma


def blur_images(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian-like blur exp2(-(x / sigma)^2), radius floor(3 sigma), same size out."""
    radius = math.floor(sigma * 3)
    if radius <= 0:
        return img
    x = torch.arange(-radius, radius + 1, device=img.device, dtype=img.dtype)
    f = (x / sigma).square().neg().exp2()
    return filter2d(img, f / f.sum())


# ---------------------------------------------------------------------------------------------
# Variational autoencoder (Kingma & Welling 2014): ELBO = E_q[log p(x | z)] - KL(q(z | x) || p(z))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, in nats: the paper's closed form
    ``0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)`` over the latent dimensions (appendix B)."""
    return 0.5 * (mu.square() + logvar.exp() - 1 - logvar).flatten(1).sum(1)


def bernoulli_log_likelihood(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(x | z) per sample for pixels x in [0, 1] under independent Bernoullis with the
    given logits: ``sum(x log p + (1 - x) log(1 - p))``. For grey values between 0 and 1 this is
    the usual cross-entropy reading, not a normalised density (Loaiza-Ganem & Cunningham 2019)."""
    ll = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return ll.flatten(1).sum(1)


def gaussian_log_likelihood(mean: torch.Tensor, target: torch.Tensor, sigma: float) -> torch.Tensor:
    """log N(x; mean, sigma^2 I) per sample, summed over pixels (a density: it may be > 0)."""
    z = (target - mean) / sigma
    per_pixel = -0.5 * z.square() - math.log(sigma) - 0.5 * math.log(2 * math.pi)
    return per_pixel.flatten(1).sum(1)
