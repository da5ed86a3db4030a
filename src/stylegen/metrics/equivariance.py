"""Equivariance metrics EQ-T, EQ-T_frac and EQ-R of StyleGAN3 (Karras et al. 2021, "Alias-Free
Generative Adversarial Networks", section 4 and appendix E).

For each sample, the generator's input is translated or rotated through the Fourier input's
`transform` buffer, and the image is compared with the untransformed image after the same
transform has been applied to it in image space:

* EQ-T (integer): a translation by whole pixels, applied to the reference by shifting it;
* EQ-T_frac: a sub-pixel translation, applied with a Lanczos-windowed (a = 3) sinc interpolator;
* EQ-R: a rotation; the reference is rotated with a band-limited resampler (4x upsampling with
  an oriented windowed-sinc filter, then bilinear sampling) and the generated image is filtered
  with the same band limit, so only content inside both pass bands is compared.

Pixels that the transform brings in from outside the image (or that the filters cannot compute)
are masked out. The score is the PSNR of the masked mean squared error for images in [-1, 1]:
20 log10(2) - 10 log10(MSE), in dB; higher means more equivariant.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylegen.errors import UserError
from stylegen.metrics.compute import dataset_labels
from stylegen.metrics.registry import MetricSpec, MetricValue, register_metric
from stylegen.ops import filter2d, upsample2d

__all__ = [
    "EQUIVARIANCE_KINDS",
    "bandlimit_filter",
    "compute_equivariance",
    "fractional_rotation",
    "fractional_translation",
    "integer_translation",
    "pseudo_rotation",
    "psnr",
    "rotation_matrix",
]

EQUIVARIANCE_KINDS = ("eqt_int", "eqt_frac", "eqr")


def rotation_matrix(angle: float | torch.Tensor) -> torch.Tensor:
    """3x3 [[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]] for `angle` in radians."""
    angle = torch.as_tensor(angle, dtype=torch.float32)
    m = torch.eye(3)
    m[0, 0], m[0, 1] = angle.cos(), angle.sin()
    m[1, 0], m[1, 1] = -angle.sin(), angle.cos()
    return m


def _lanczos(x: torch.Tensor, a: float) -> torch.Tensor:
    return torch.where(x.abs() < a, torch.special.sinc(x / a), torch.zeros_like(x))


# ---------------------------------------------------------------------------------------------
# Translations


def integer_translation(x: torch.Tensor, tx: float, ty: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift x by (tx, ty) image widths, rounded to whole pixels; returns (image, valid mask)."""
    h, w = x.shape[2:]
    ix, iy = int(round(float(tx) * w)), int(round(float(ty) * h))
    out, mask = torch.zeros_like(x), torch.zeros_like(x)
    if abs(ix) < w and abs(iy) < h:
        dst = (slice(max(iy, 0), h + min(iy, 0)), slice(max(ix, 0), w + min(ix, 0)))
        src = (slice(max(-iy, 0), h + min(-iy, 0)), slice(max(-ix, 0), w + min(-ix, 0)))
        out[:, :, dst[0], dst[1]] = x[:, :, src[0], src[1]]
        mask[:, :, dst[0], dst[1]] = 1
    return out, mask


def _lanczos_shift_matrix(size: int, shift: float, a: int, dtype, device) -> torch.Tensor:
    """A [size, size]: output j = sum_n A[j, n] x[n] samples x at j - shift with a Lanczos-a
    kernel; each row's 2a taps are normalised to sum 1."""
    j = torch.arange(size, dtype=torch.float64).unsqueeze(1)
    n = torch.arange(size, dtype=torch.float64).unsqueeze(0)
    u = j - shift - n
    base = math.floor(shift)
    frac = shift - base
    taps = torch.arange(-(a - 1), a + 1, dtype=torch.float64) - frac
    norm = (torch.special.sinc(taps) * torch.special.sinc(taps / a)).sum()
    inside = (u > -a) & (u <= a) if frac == 0 else (u > -a) & (u < a)
    kernel = torch.special.sinc(u) * torch.special.sinc(u / a) * inside / norm
    return kernel.to(dtype=dtype, device=device)


def fractional_translation(
    x: torch.Tensor, tx: float, ty: float, a: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift x by (tx, ty) image widths with Lanczos-`a` interpolation; (image, valid mask).

    Valid output pixels are those whose 2a interpolation taps all fall inside the image.
    """
    h, w = x.shape[2:]
    sx, sy = float(tx) * w, float(ty) * h
    a_w = _lanczos_shift_matrix(w, sx, a, x.dtype, x.device)
    a_h = _lanczos_shift_matrix(h, sy, a, x.dtype, x.device)
    out = a_h @ x @ a_w.t()
    ix, iy = math.floor(sx), math.floor(sy)
    mask = torch.zeros_like(x)
    x0, x1 = max(ix + a, 0), min(ix - (a - 1), 0) + w
    y0, y1 = max(iy + a, 0), min(iy - (a - 1), 0) + h
    if x0 < x1 and y0 < y1:
        mask[:, :, y0:y1, x0:x1] = 1
    return out * mask, mask


# ---------------------------------------------------------------------------------------------
# Rotations


def bandlimit_filter(
    mat: torch.Tensor, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4
) -> torch.Tensor:
    """2-D FIR filter [(2 amax up - 1)^2] that keeps frequencies inside both the unit pass band
    of the image grid and that band transformed by `mat` (its 2x2 part).

    The ideal response is the product of two boxes, i.e. the convolution of a separable sinc
    with the same sinc in transformed coordinates; it is windowed by the equally convolved
    Lanczos-`a` windows. Both convolutions run by FFT on a fine grid (spacing 1 / up) over
    [-aflt, aflt]; the result is cropped to [-amax, amax] and each of its up x up polyphase
    components is normalised to unit DC gain (divided by up^2 for `upsample2d`'s gain).
    """
    assert a <= amax < aflt
    mat = torch.as_tensor(mat, dtype=torch.float64)[:2, :2]
    n = 2 * aflt * up - 1
    # Grid coordinates in FFT order: index 0 is the origin, negative offsets wrap around.
    coords = (torch.arange(n, dtype=torch.float64) - (aflt * up - 1)) / up
    coords = torch.fft.ifftshift(coords)
    yi, xi = torch.meshgrid(coords, coords, indexing="ij")
    xo = mat[0, 0] * xi + mat[0, 1] * yi
    yo = mat[1, 0] * xi + mat[1, 1] * yi

    def circular_conv(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifftn(torch.fft.fftn(p) * torch.fft.fftn(q)).real

    sinc = torch.special.sinc
    response = circular_conv(sinc(xi) * sinc(yi), sinc(xo) * sinc(yo))
    window = circular_conv(_lanczos(xi, a) * _lanczos(yi, a), _lanczos(xo, a) * _lanczos(yo, a))
    f = torch.fft.fftshift(response * window)  # origin back at the centre, index aflt*up - 1
    crop = (aflt - amax) * up
    f = f[crop : n - crop, crop : n - crop]  # [2 amax up - 1]^2
    # Polyphase normalisation on a grid padded to a multiple of `up`.
    f = F.pad(f, [0, 1, 0, 1]).reshape(2 * amax, up, 2 * amax, up)
    f = f / f.sum(dim=[0, 2], keepdim=True) / up**2
    return f.reshape(2 * amax * up, 2 * amax * up)[:-1, :-1].to(torch.float32)


def _affine_resample(
    x: torch.Tensor, mat: torch.Tensor, a: int, amax: int, up: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transform x by `mat` (3x3, image-width units): band-limited 4x upsampling, then bilinear
    sampling at the transformed positions; returns (image, mask of fully supported pixels)."""
    n, c, h, w = x.shape
    f = bandlimit_filter(mat, a=a, amax=amax, up=up).to(x.device, x.dtype)
    p = f.shape[0] // 2
    y = upsample2d(x, f, up=up, padding=p)  # [N, C, H*up + 2p, W*up + 2p]
    theta = torch.linalg.inv(mat.to(torch.float64)).to(torch.float32)
    # affine_grid works in [-1, 1] coordinates (image widths * 2); shift by half an upsampled
    # pixel for the upsampling phase, then shrink into the padded upsampled image.
    theta[:2, 2] *= 2
    theta[0, 2] += 1 / up / w
    theta[1, 2] += 1 / up / h
    theta[0, :] *= w / (w + 2 * p / up)
    theta[1, :] *= h / (h + 2 * p / up)
    grid = F.affine_grid(
        theta[:2].unsqueeze(0).expand(n, 2, 3).to(x.device, x.dtype), [n, c, h, w], False
    )
    out = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    support = torch.zeros_like(y)
    border = 2 * p + 1
    support[:, :, border:-border, border:-border] = 1
    mask = F.grid_sample(support, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out, mask


def fractional_rotation(
    x: torch.Tensor, angle: float, a: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate x by `angle` radians with the band-limited resampler; (image, valid mask)."""
    return _affine_resample(x, rotation_matrix(angle), a=a, amax=2 * a)


def pseudo_rotation(x: torch.Tensor, angle: float, a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter x (already rotated by the generator) to the band limit that `fractional_rotation`
    imposes, without resampling; (image, valid mask)."""
    f = bandlimit_filter(rotation_matrix(-angle), a=a, amax=2 * a, up=1).to(x.device, x.dtype)
    y = filter2d(x, f)
    mask = torch.zeros_like(y)
    border = f.shape[0] // 2
    mask[:, :, border:-border, border:-border] = 1
    return y, mask


# ---------------------------------------------------------------------------------------------
# The metric


def psnr(sq_err_sum: float, mask_sum: float) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2) from masked sums."""
    mse = sq_err_sum / max(mask_sum, 1e-30)
    return 20 * math.log10(2) - 10 * math.log10(max(mse, 1e-30))


def _check_generator(G: nn.Module) -> torch.Tensor:
    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if transform is None:
        raise UserError(
            "equivariance metrics need a StyleGAN3 generator (its Fourier input can be "
            "translated and rotated); this network has no synthesis.input.transform"
        )
    return transform


@torch.no_grad()
def compute_equivariance(
    G: nn.Module,
    kind: str,
    num: int,
    batch_size: int = 8,
    translate_max: float = 0.125,
    rotate_max: float = 1.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    c_sampler=None,
) -> float:
    """EQ-T (`kind` 'eqt_int'), EQ-T_frac ('eqt_frac') or EQ-R ('eqr') in dB over `num` samples.

    Translations are drawn uniformly from [-translate_max, translate_max]^2 image widths (rounded
    to whole pixels for 'eqt_int'); rotation angles from [-rotate_max, rotate_max] * pi. Squared
    errors and mask sizes are summed over all samples before taking the PSNR, as the paper does.
    `c_sampler(n)` returns labels for a conditional G (default: random one-hot classes).
    The generator's own transform buffer is restored afterwards.
    """
    if kind not in EQUIVARIANCE_KINDS:
        raise UserError(f"unknown equivariance kind {kind!r}; use one of {EQUIVARIANCE_KINDS}")
    if num < 1:
        raise UserError(f"number of samples {num} must be >= 1")
    transform = _check_generator(G)
    saved = transform.clone()
    gen = torch.Generator().manual_seed(seed)
    identity = torch.eye(3, device=transform.device)
    err_sum = mask_sum = 0.0
    try:
        for start in range(0, num, batch_size):
            n = min(batch_size, num - start)
            z = torch.randn([n, G.z_dim], generator=gen).to(device)
            c = None
            if G.c_dim:
                if c_sampler is not None:
                    c = c_sampler(n).to(device)
                else:
                    labels = torch.randint(G.c_dim, [n], generator=gen)
                    c = F.one_hot(labels, G.c_dim).float().to(device)
            ws = G.mapping(z, c)
            transform.copy_(identity)
            orig = G.synthesis(ws, noise_mode="const")
            if kind == "eqr":
                angle = float((torch.rand([], generator=gen) * 2 - 1) * rotate_max * np.pi)
                transform.copy_(rotation_matrix(-angle).to(transform))
                img = G.synthesis(ws, noise_mode="const")
                ref, ref_mask = fractional_rotation(orig, angle)
                img, img_mask = pseudo_rotation(img, angle)
                mask = ref_mask * img_mask
            else:
                t = (torch.rand(2, generator=gen) * 2 - 1) * translate_max
                if kind == "eqt_int":
                    t = (t * G.img_resolution).round() / G.img_resolution
                transform.copy_(identity)
                transform[:2, 2] = -t.to(transform)
                img = G.synthesis(ws, noise_mode="const")
                shift = integer_translation if kind == "eqt_int" else fractional_translation
                ref, mask = shift(orig, float(t[0]), float(t[1]))
            err_sum += float(((ref - img).square() * mask).sum(dtype=torch.float64))
            mask_sum += float(mask.sum(dtype=torch.float64))
    finally:
        transform.copy_(saved)
    return psnr(err_sum, mask_sum)


# --------------------------------------------------------------------------------------------
# Registered metrics: eqt50k_int, eqt50k_frac, eqr50k (the StyleGAN3 paper's names)


def _labels_for(ctx, G: nn.Module):
    """Labels of a conditional G drawn from the dataset's own label distribution, as official."""
    c_dim = int(getattr(G, "c_dim", 0))
    if not c_dim or ctx.dataset is None:
        return None  # compute_equivariance falls back to random one-hot classes
    labels = dataset_labels(ctx.dataset, c_dim)
    drawn = 0

    def sample(n: int) -> torch.Tensor:
        nonlocal drawn
        c = labels(n, drawn)
        drawn += n
        return c

    return sample


def _equivariance_metric(kind: str):
    def metric(ctx, spec: MetricSpec) -> MetricValue:
        G = ctx.require_generator(spec)
        psnr = compute_equivariance(
            G,
            kind,
            spec.num_gen,
            batch_size=ctx.batch_size,
            device=ctx.device,
            c_sampler=_labels_for(ctx, G),
        )
        return MetricValue({spec.name: psnr}, num_gen=spec.num_gen)

    return metric


def _check_equivariance(ctx, spec: MetricSpec) -> None:
    _check_generator(ctx.require_generator(spec))


def _eqt(ctx, spec: MetricSpec) -> MetricValue:
    return _equivariance_metric("eqt_" + spec.param("mode", "int"))(ctx, spec)


register_metric(
    "eqt", r"eqt(?P<n>\d+)k_(?P<mode>int|frac)", _eqt,
    form="eqt<N>k_{int,frac}", example="eqt50k_int", uses_dataset=False,
    check=_check_equivariance,
)  # fmt: skip
register_metric(
    "eqr", r"eqr(?P<n>\d+)k", _equivariance_metric("eqr"),
    form="eqr<N>k", example="eqr50k", uses_dataset=False, check=_check_equivariance,
)  # fmt: skip
