"""Discriminator augmentation: the ADA pipeline, its p controller, and DiffAugment.

Implements
- `AugmentPipe`: the differentiable, non-leaking augmentation pipeline of Karras et al. 2020,
  "Training Generative Adversarial Networks with Limited Data" (ADA), restricted to the pixel
  blitting, general geometric and colour groups ('bgc'); the image-space filtering, noise and
  cutout groups of the paper are not implemented.
- `AdaController`: the overfitting heuristic r_t = E[sign(D(x_real))] of the same paper that tunes
  the augmentation probability p during training.
- `diff_augment`: DiffAugment of Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
  GAN Training" (colour, translation, cutout).
- `make_augment`: one object the training loop calls for every `--aug` mode.

Every function takes an optional `torch.Generator`; without one the global torch RNG of the
images' device is used, so `torch.manual_seed` makes runs reproducible.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from stylegen.errors import UserError

log = logging.getLogger(__name__)

# Probability multipliers of each transform group, as in the paper (Appendix B) and the
# `--augpipe` choices of the official code.
_BLIT = dict(xflip=1.0, rotate90=1.0, xint=1.0)
_GEOM = dict(scale=1.0, rotate=1.0, aniso=1.0, xfrac=1.0)
_COLOR = dict(brightness=1.0, contrast=1.0, lumaflip=1.0, hue=1.0, saturation=1.0)
AUGPIPE_PRESETS: dict[str, dict[str, float]] = {
    "b": dict(_BLIT),
    "g": dict(_GEOM),
    "c": dict(_COLOR),
    "bg": {**_BLIT, **_GEOM},
    "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "blit": dict(_BLIT),
    "geom": dict(_GEOM),
    "color": dict(_COLOR),
}

AUGMENT_MODES = ("ada", "fixed", "diffaug", "none")
DIFFAUG_OPS = ("color", "translation", "cutout")

# Rotation by k * 90 degrees as integer 2x2 matrices acting on (x, y) column vectors.
_ROT90 = torch.tensor([[[1, 0], [0, 1]], [[0, -1], [1, 0]], [[-1, 0], [0, -1]], [[0, 1], [-1, 0]]])


# ------------------------------------------------------------------------------------------------
# Random numbers


class _Rng:
    """Draws float32 randoms from a generator (on its own device) or the global RNG of `device`."""

    def __init__(self, generator: torch.Generator | None, device: torch.device) -> None:
        self.generator = generator
        self.device = device
        # Draw where the generator lives; the values then move to the images' device.
        self.draw_device = generator.device if generator is not None else device

    def rand(self, *shape: int) -> torch.Tensor:
        x = torch.rand(shape, generator=self.generator, device=self.draw_device)
        return x.to(self.device)

    def randn(self, *shape: int) -> torch.Tensor:
        x = torch.randn(shape, generator=self.generator, device=self.draw_device)
        return x.to(self.device)

    def randint(self, low: int, high: int, *shape: int) -> torch.Tensor:
        x = torch.randint(low, high, shape, generator=self.generator, device=self.draw_device)
        return x.to(self.device)

    def gate(self, n: int, prob: float) -> torch.Tensor:
        """Per-image booleans, each true with probability `prob`."""
        return self.rand(n) < prob


# ------------------------------------------------------------------------------------------------
# Small matrix builders: batched [N, 3, 3] (2-D homogeneous) and [N, 4, 4] (RGB homogeneous).


def _eye(n: int, size: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(size, dtype=like.dtype, device=like.device).expand(n, size, size).clone()


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(sx.shape[0], 3, sx)
    m[:, 0, 0] = sx
    m[:, 1, 1] = sy
    return m


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    m = _eye(theta.shape[0], 3, theta)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(tx.shape[0], 3, tx)
    m[:, 0, 2] = tx
    m[:, 1, 2] = ty
    return m


def _luma_outer(like: torch.Tensor) -> torch.Tensor:
    """v v^T for the unit luma axis v = (1, 1, 1, 0) / sqrt(3), as a [4, 4] matrix."""
    v = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=like.dtype, device=like.device) / math.sqrt(3)
    return torch.outer(v, v)


def _rotate_about_luma(theta: torch.Tensor) -> torch.Tensor:
    """Rotation by `theta` about the luma axis (Rodrigues' formula); the hue rotation."""
    n = theta.shape[0]
    axis = torch.ones(3, dtype=theta.dtype, device=theta.device) / math.sqrt(3)
    cross = torch.zeros(3, 3, dtype=theta.dtype, device=theta.device)
    cross[0, 1], cross[0, 2], cross[1, 2] = -axis[2], axis[1], -axis[0]
    cross = cross - cross.T
    c = torch.cos(theta)[:, None, None]
    s = torch.sin(theta)[:, None, None]
    eye3 = torch.eye(3, dtype=theta.dtype, device=theta.device)
    rot = c * eye3 + s * cross + (1 - c) * torch.outer(axis, axis)
    m = _eye(n, 4, theta)
    m[:, :3, :3] = rot
    return m


# ------------------------------------------------------------------------------------------------
# Resampling


def _reflect_index(i: torch.Tensor, size: int) -> torch.Tensor:
    """Fold integer indices into [0, size) by mirror reflection about the edge pixel centres.

    Same convention as numpy.pad(mode="reflect") (the edge pixel is not repeated), for any
    distance outside the image.
    """
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - i, i)


def _blit(images: torch.Tensor, A: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Exact integer remap: output pixel at centred coords q reads input at A @ q + shift.

    `A` [n, 2, 2] is a signed permutation (flips and 90-degree rotations) and `shift` [n, 2] an
    integer translation in pixels, both int64. Coordinates are doubled so that the half-integer
    centres of even-sized images stay integers; out-of-image reads are reflected. A gather, so
    it is exact and gradients flow to `images`.
    """
    n, c, h, w = images.shape
    dev = images.device
    x2 = (2 * torch.arange(w, device=dev) - (w - 1)).view(1, 1, w)
    y2 = (2 * torch.arange(h, device=dev) - (h - 1)).view(1, h, 1)
    A = A.to(dev).view(n, 2, 2, 1, 1)
    shift = shift.to(dev).view(n, 2, 1, 1)
    src_x2 = A[:, 0, 0] * x2 + A[:, 0, 1] * y2 + 2 * shift[:, 0]
    src_y2 = A[:, 1, 0] * x2 + A[:, 1, 1] * y2 + 2 * shift[:, 1]
    # Back to indices; for square images the parity always matches, otherwise this rounds down.
    src_x = _reflect_index(torch.div(src_x2 + (w - 1), 2, rounding_mode="floor"), w)
    src_y = _reflect_index(torch.div(src_y2 + (h - 1), 2, rounding_mode="floor"), h)
    flat = (src_y * w + src_x).reshape(n, 1, h * w).expand(n, c, h * w)
    return images.reshape(n, c, h * w).gather(2, flat).reshape(n, c, h, w)


def _resample(images: torch.Tensor, M: torch.Tensor, supersample: int) -> torch.Tensor:
    """Bilinear resampling: output pixel at centred coords q reads input at M @ q (homogeneous).

    The output is evaluated on a `supersample` x finer grid and box-averaged back, which damps
    the aliasing of bilinear sampling under minification. Outside the image the input is
    reflected about the edge pixel centres (grid_sample's reflection with align_corners=True).
    """
    n, c, h, w = images.shape
    s = supersample
    dev, dt = images.device, M.dtype
    # Centres of the sub-pixels of the s-times finer output grid, in centred pixel coordinates.
    xs = (torch.arange(w * s, device=dev, dtype=dt) + 0.5) / s - w / 2
    ys = (torch.arange(h * s, device=dev, dtype=dt) + 0.5) / s - h / 2
    X, Y = xs.view(1, 1, w * s), ys.view(1, h * s, 1)
    # Input centred pixel coords -> grid_sample units with align_corners=True (edge centres +-1).
    T = M[:, :2, :] * torch.tensor(
        [2 / max(w - 1, 1), 2 / max(h - 1, 1)], dtype=dt, device=dev
    ).view(1, 2, 1)
    T = T.view(n, 6, 1, 1)
    gx = T[:, 0] * X + T[:, 1] * Y + T[:, 2]
    gy = T[:, 3] * X + T[:, 4] * Y + T[:, 5]
    grid = torch.stack([gx, gy], dim=-1)
    out = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=True
    )
    if s > 1:
        # Box filter over each s x s block (strided adds are much faster than a 6-D mean on CPU).
        blocks = [out[:, :, i::s, j::s] for i in range(s) for j in range(s)]
        out = sum(blocks) / (s * s)
    return out


# Devices on which only the selected images are transformed. Finding them (nonzero) reads the
# mask on the host; on a GPU that read would stall the device queue, so there every image is
# transformed and the mask picks, as the official pipeline does for the whole batch.
SUBSET_DEVICES = ("cpu",)


def _apply_subset(
    x: torch.Tensor, mask: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Replace the images selected by `mask` with fn(their indices); the others pass unchanged."""
    if x.device.type not in SUBSET_DEVICES:
        every = torch.arange(x.shape[0], device=x.device)
        return torch.where(mask.view(-1, 1, 1, 1), fn(every), x)
    idx = mask.nonzero().squeeze(1)
    if idx.numel() == 0:
        return x
    return x.index_copy(0, idx, fn(idx))


# ------------------------------------------------------------------------------------------------
# The ADA pipeline


@dataclass
class _Geometry:
    """Sampled geometric parameters of a batch (sampling direction: output -> input)."""

    A: torch.Tensor  # [n, 2, 2] int64 signed permutation of the blit part
    shift: torch.Tensor  # [n, 2] int64 translation of the blit part, pixels
    blit: torch.Tensor  # [n] bool: blit part is not the identity
    M: torch.Tensor | None  # [n, 3, 3] general part (scale/rotate/aniso/xfrac) or None
    general: torch.Tensor  # [n] bool: a general transform was drawn for this image


@dataclass
class _Colour:
    """Sampled colour parameters of a batch; identity values where a transform was not drawn."""

    brightness: torch.Tensor  # additive offset b
    contrast: torch.Tensor  # multiplier c
    lumaflip: torch.Tensor  # 0 or 1
    hue: torch.Tensor | None  # rotation angle about the luma axis (RGB only)
    saturation: torch.Tensor | None  # chroma multiplier (RGB only)
    active: torch.Tensor  # [n] bool: some colour transform was drawn


_MULTIPLIERS = (
    "xflip",
    "rotate90",
    "xint",
    "scale",
    "rotate",
    "aniso",
    "xfrac",
    "brightness",
    "contrast",
    "lumaflip",
    "hue",
    "saturation",
)


class AugmentPipe(torch.nn.Module):
    """ADA augmentation pipeline (Karras et al. 2020) for float images [N, C, H, W] in [-1, 1].

    Every transform is applied to each image independently with probability p * multiplier,
    where p is the buffer `self.p` (set it with `set_p`, or let `AdaController` drive it). The
    geometric transforms are composed into one 3x3 matrix and the colour transforms into one 4x4
    matrix, as in the paper; distributions follow the paper: x-flip, rotation by k*90 degrees,
    integer translation U(-xint_max, xint_max) * size, isotropic scale 2^N(0, scale_std),
    rotation U(-rotate_max, rotate_max) * pi (applied before and after the anisotropic scaling,
    each with probability 1 - sqrt(1 - rotate * p), so that one of them happens with probability
    rotate * p), anisotropic scale 2^N(0, aniso_std), fractional translation N(0, xfrac_std) *
    size; brightness + N(0, brightness_std), contrast * 2^N(0, contrast_std), luma flip, hue
    rotation U(-hue_max, hue_max) * pi about the luma axis, saturation * 2^N(0, saturation_std).

    Resampling (differs from the official code, which pads by reflection, upsamples 2x with a
    sym6 wavelet filter, samples bilinearly and downsamples with the same filter):
    - images whose geometric transform is only pixel blitting (x-flip, 90-degree rotation,
      integer translation) are remapped exactly by a gather, with mirror reflection outside the
      image, so they are moved by whole pixels without any blur;
    - images with a general transform (scale, rotation, anisotropy, fractional translation) are
      resampled once with F.grid_sample (bilinear, reflection about the edge pixel centres, the
      same reflection as the official `reflect` padding), evaluated on a `supersample` x finer
      output grid and box-averaged, which reduces aliasing when the image shrinks. The blit part
      of such an image is folded into its matrix, so there is a single resampling.
    - images for which no transform was drawn pass through bit-exactly.

    Colour: RGB images get the full 4x4 colour matrix. 1-channel images are treated as luma
    only: brightness adds, contrast multiplies and luma flip negates the single channel, while
    hue and saturation are no-ops (they are not drawn). For 4-channel (RGBA) images the colour
    transform acts on RGB and alpha is left unchanged; other channel counts accept geometric
    transforms only.

    p == 0 returns the input object itself with no work. Float64 input is processed in float64,
    half precision in float32; the output has the input's dtype. Gradients flow to the images.
    """

    def __init__(
        self,
        xflip: float = 0,
        rotate90: float = 0,
        xint: float = 0,
        scale: float = 0,
        rotate: float = 0,
        aniso: float = 0,
        xfrac: float = 0,
        brightness: float = 0,
        contrast: float = 0,
        lumaflip: float = 0,
        hue: float = 0,
        saturation: float = 0,
        *,
        xint_max: float = 0.125,
        scale_std: float = 0.2,
        rotate_max: float = 1,
        aniso_std: float = 0.2,
        xfrac_std: float = 0.125,
        brightness_std: float = 0.2,
        contrast_std: float = 0.5,
        hue_max: float = 1,
        saturation_std: float = 1,
        supersample: int = 2,
    ) -> None:
        super().__init__()
        values = dict(locals())
        for name in _MULTIPLIERS + (
            "xint_max",
            "scale_std",
            "rotate_max",
            "aniso_std",
            "xfrac_std",
            "brightness_std",
            "contrast_std",
            "hue_max",
            "saturation_std",
        ):
            value = float(values[name])
            if not math.isfinite(value) or value < 0:
                raise UserError(f"AugmentPipe {name}={values[name]!r} must be a number >= 0")
            setattr(self, name, value)
        if not isinstance(supersample, int) or supersample < 1:
            raise UserError(f"AugmentPipe supersample={supersample!r} must be an integer >= 1")
        self.supersample = supersample
        self.register_buffer("p", torch.zeros([]))

    @classmethod
    def from_preset(cls, name: str, **kwargs: Any) -> AugmentPipe:
        """Pipe with the multipliers of a named preset ('bgc', 'bg', 'b', 'g', 'c', ...)."""
        if name not in AUGPIPE_PRESETS:
            raise UserError(
                f"unknown augment preset {name!r}; choose one of: {', '.join(AUGPIPE_PRESETS)}"
            )
        return cls(**{**AUGPIPE_PRESETS[name], **kwargs})

    def set_p(self, p: float) -> None:
        """Set the augmentation probability (in [0, 1])."""
        _check_probability(p)
        self.p.fill_(float(p))

    def extra_repr(self) -> str:
        on = [f"{k}={getattr(self, k):g}" for k in _MULTIPLIERS if getattr(self, k) > 0]
        return f"p={float(self.p):.4f}, " + ", ".join(on)

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(f"AugmentPipe expects [N, C, H, W] images, got {tuple(images.shape)}")
        p = float(self.p)
        if p <= 0:
            return images
        work = torch.float64 if images.dtype == torch.float64 else torch.float32
        x = images.to(work)
        rng = _Rng(generator, images.device)
        x = self._geometric(x, p, rng)
        x = self._colour(x, p, rng)
        return x.to(images.dtype)

    # -- geometry ------------------------------------------------------------------------------

    def _sample_geometry(
        self, n: int, h: int, w: int, p: float, rng: _Rng, dt: torch.dtype
    ) -> _Geometry:
        dev = rng.device
        zeros = torch.zeros(n, dtype=torch.long, device=dev)
        flip, k, shift = zeros, zeros, torch.zeros(n, 2, dtype=torch.long, device=dev)
        if self.xflip > 0:
            f = torch.floor(rng.rand(n) * 2).long()
            flip = torch.where(rng.gate(n, self.xflip * p), f, zeros)
        if self.rotate90 > 0:
            r = torch.floor(rng.rand(n) * 4).long()
            k = torch.where(rng.gate(n, self.rotate90 * p), r, zeros)
        if self.xint > 0:
            t = (rng.rand(n, 2) * 2 - 1) * self.xint_max
            t = torch.where(rng.gate(n, self.xint * p)[:, None], t, torch.zeros_like(t))
            size = torch.tensor([w, h], dtype=t.dtype, device=dev)
            shift = torch.round(t * size).long()
        # Sampling matrix = inverse of the forward transform: flip (its own inverse), rotation by
        # -k*90 degrees, translation by -shift. src = A @ (q - shift) = A @ q + (-A @ shift).
        signs = torch.stack([1 - 2 * flip, torch.ones_like(flip)], dim=1)
        A = signs[:, :, None] * _ROT90.to(dev)[(4 - k) % 4]
        # Elementwise rather than a matmul: CUDA has no int64 matmul.
        blit_shift = -(A * shift[:, None, :]).sum(dim=2)
        blit = (flip != 0) | (k != 0) | (shift != 0).any(dim=1)

        general = torch.zeros(n, dtype=torch.bool, device=dev)
        M = None
        if max(self.scale, self.rotate, self.aniso, self.xfrac) > 0:
            M = _eye(n, 3, torch.empty(0, dtype=dt, device=dev))
            ones = torch.ones(n, dtype=dt, device=dev)
            if self.scale > 0:
                s = torch.exp2(rng.randn(n) * self.scale_std).to(dt)
                g = rng.gate(n, self.scale * p)
                s, general = torch.where(g, s, ones), general | g
                M = M @ _scale2d(1 / s, 1 / s)
            # Two rotations, so that P(pre or post) = rotate * p.
            p_rot = 1 - math.sqrt(min(max(1 - self.rotate * p, 0.0), 1.0))
            for stage in ("pre", "post"):
                if self.rotate > 0:
                    theta = ((rng.rand(n) * 2 - 1) * math.pi * self.rotate_max).to(dt)
                    g = rng.gate(n, p_rot)
                    theta, general = torch.where(g, theta, ones * 0), general | g
                    M = M @ _rotate2d(-theta)
                if stage == "pre" and self.aniso > 0:
                    a = torch.exp2(rng.randn(n) * self.aniso_std).to(dt)
                    g = rng.gate(n, self.aniso * p)
                    a, general = torch.where(g, a, ones), general | g
                    M = M @ _scale2d(1 / a, a)
            if self.xfrac > 0:
                t = (rng.randn(n, 2) * self.xfrac_std).to(dt)
                g = rng.gate(n, self.xfrac * p)
                t, general = torch.where(g[:, None], t, torch.zeros_like(t)), general | g
                M = M @ _translate2d(-t[:, 0] * w, -t[:, 1] * h)
        return _Geometry(A=A, shift=blit_shift, blit=blit, M=M, general=general)

    def _geometric(self, x: torch.Tensor, p: float, rng: _Rng) -> torch.Tensor:
        if max(getattr(self, k) for k in _MULTIPLIERS[:7]) <= 0:
            return x
        n, _, h, w = x.shape
        geo = self._sample_geometry(n, h, w, p, rng, x.dtype)
        src = x

        def blit(idx: torch.Tensor) -> torch.Tensor:
            return _blit(src[idx], geo.A[idx], geo.shift[idx])

        def general(idx: torch.Tensor) -> torch.Tensor:
            # Fold the blit part into the general matrix so that there is a single resampling.
            B = _eye(idx.numel(), 3, geo.M)
            B[:, :2, :2] = geo.A[idx].to(geo.M.dtype)
            B[:, :2, 2] = geo.shift[idx].to(geo.M.dtype)
            return _resample(src[idx], B @ geo.M[idx], self.supersample)

        x = _apply_subset(x, geo.blit & ~geo.general, blit)
        return _apply_subset(x, geo.general, general)

    # -- colour --------------------------------------------------------------------------------

    def _sample_colour(self, n: int, rgb: bool, p: float, rng: _Rng, dt: torch.dtype) -> _Colour:
        dev = rng.device
        zeros = torch.zeros(n, dtype=dt, device=dev)
        ones = torch.ones(n, dtype=dt, device=dev)
        active = torch.zeros(n, dtype=torch.bool, device=dev)
        b, c, flip, hue, sat = zeros, ones, zeros, None, None
        if self.brightness > 0:
            v = (rng.randn(n) * self.brightness_std).to(dt)
            g = rng.gate(n, self.brightness * p)
            b, active = torch.where(g, v, zeros), active | g
        if self.contrast > 0:
            v = torch.exp2(rng.randn(n) * self.contrast_std).to(dt)
            g = rng.gate(n, self.contrast * p)
            c, active = torch.where(g, v, ones), active | g
        if self.lumaflip > 0:
            v = torch.floor(rng.rand(n) * 2).to(dt)
            g = rng.gate(n, self.lumaflip * p)
            flip, active = torch.where(g, v, zeros), active | g
        if rgb and self.hue > 0:
            v = ((rng.rand(n) * 2 - 1) * math.pi * self.hue_max).to(dt)
            g = rng.gate(n, self.hue * p)
            hue, active = torch.where(g, v, zeros), active | g
        if rgb and self.saturation > 0:
            v = torch.exp2(rng.randn(n) * self.saturation_std).to(dt)
            g = rng.gate(n, self.saturation * p)
            sat, active = torch.where(g, v, ones), active | g
        return _Colour(b, c, flip, hue, sat, active)

    @staticmethod
    def _colour_matrix(col: _Colour) -> torch.Tensor:
        """[n, 4, 4] matrix C with rgb_out = C @ (rgb_in, 1), composed in the paper's order."""
        n = col.brightness.shape[0]
        I4 = _eye(n, 4, col.brightness)
        vv = _luma_outer(col.brightness)
        C = I4.clone()
        C[:, :3, 3] = col.brightness[:, None]
        C = (
            torch.diag_embed(torch.stack([col.contrast] * 3 + [torch.ones_like(col.contrast)], 1))
            @ C
        )
        C = (I4 - 2 * vv * col.lumaflip[:, None, None]) @ C  # Householder reflection of luma.
        if col.hue is not None:
            C = _rotate_about_luma(col.hue) @ C
        if col.saturation is not None:
            # Scale the chroma (the part orthogonal to the luma axis); exact identity at s = 1.
            chroma = torch.eye(4, dtype=vv.dtype, device=vv.device) - vv
            chroma[3, 3] = 0
            C = (I4 + (col.saturation - 1)[:, None, None] * chroma) @ C
        return C

    def _colour(self, x: torch.Tensor, p: float, rng: _Rng) -> torch.Tensor:
        if max(getattr(self, k) for k in _MULTIPLIERS[7:]) <= 0:
            return x
        n, c, h, w = x.shape
        if c not in (1, 3, 4):
            raise UserError(
                f"colour augmentation needs 1, 3 or 4 image channels, got {c}; "
                "use a geometric-only preset ('bg') or convert the images to RGB or grayscale"
            )
        col = self._sample_colour(n, c >= 3, p, rng, x.dtype)
        src = x

        if c == 1:
            # Luma only: x -> a * x + t, with brightness, then contrast, then the luma flip.
            sign = 1 - 2 * col.lumaflip
            a = col.contrast * sign
            t = col.brightness * col.contrast * sign

            def apply(idx: torch.Tensor) -> torch.Tensor:
                return src[idx] * a[idx].view(-1, 1, 1, 1) + t[idx].view(-1, 1, 1, 1)

        else:
            C = self._colour_matrix(col)

            def apply(idx: torch.Tensor) -> torch.Tensor:
                rgb = src[idx, :3].reshape(idx.numel(), 3, h * w)
                out = C[idx, :3, :3] @ rgb + C[idx, :3, 3:]
                out = out.reshape(idx.numel(), 3, h, w)
                return torch.cat([out, src[idx, 3:]], dim=1) if c == 4 else out

        return _apply_subset(x, col.active, apply)


# ------------------------------------------------------------------------------------------------
# Adaptive p


class AdaController:
    """Adjusts p from the overfitting heuristic r_t = E[sign(D(real))] (Karras et al. 2020).

    Call `accumulate(real_logits)` once per minibatch with D's logits on the real images; every
    `interval` minibatches r_t is measured over them and
    p += sign(r_t - target) * (batch_size * interval) / (kimg * 1000), clamped to [0, 1],
    so p can move from 0 to 1 in `kimg` thousand real images. If `pipe` is given its `p` buffer
    follows. `batch_size` is the total (all-GPU) batch size. For multi-process training pass
    `reduce_fn`, which receives a float64 tensor [sum of signs, count] and must return it summed
    over processes (e.g. torch.distributed.all_reduce); then every process computes the same p.
    Signs are summed on the logits' device, so the only host sync is once per interval.
    """

    def __init__(
        self,
        target: float = 0.6,
        interval: int = 4,
        kimg: float = 500,
        batch_size: int = 32,
        *,
        p: float = 0.0,
        pipe: AugmentPipe | None = None,
        reduce_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if not 0 <= target <= 1:
            raise UserError(f"ADA target={target!r} must be in [0, 1]; the paper uses 0.6")
        if not isinstance(interval, int) or interval < 1:
            raise UserError(f"ADA interval={interval!r} must be a positive integer (default 4)")
        if not kimg > 0:
            raise UserError(f"ADA kimg={kimg!r} must be > 0 (default 500)")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"ADA batch_size={batch_size!r} must be a positive integer")
        _check_probability(p)
        self.target = float(target)
        self.interval = interval
        self.kimg = float(kimg)
        self.batch_size = batch_size
        self.pipe = pipe
        self.reduce_fn = reduce_fn
        self._p = float(p)
        self._rt: float | None = None
        self._sign_sum: torch.Tensor | float = 0.0
        self._count = 0
        self._batches = 0
        self._push()

    @property
    def p(self) -> float:
        return self._p

    @property
    def rt(self) -> float | None:
        """The last measured r_t, or None before the first adjustment."""
        return self._rt

    @property
    def step(self) -> float:
        """The amount p moves per adjustment."""
        return self.batch_size * self.interval / (self.kimg * 1000)

    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Record one minibatch of D's real logits; adjusts p every `interval` calls."""
        signs = torch.sign(real_logits.detach()).sum(dtype=torch.float64)
        self._sign_sum = self._sign_sum + signs
        self._count += real_logits.numel()
        self._batches += 1
        if self._batches >= self.interval:
            self._adjust()

    def _adjust(self) -> None:
        stats = torch.as_tensor(self._sign_sum, dtype=torch.float64).reshape(1)
        dev = stats.device
        stats = torch.cat(
            [stats, torch.tensor([float(self._count)], dtype=torch.float64, device=dev)]
        )
        if self.reduce_fn is not None:
            stats = self.reduce_fn(stats)
        total, count = stats.tolist()
        self._sign_sum, self._count, self._batches = 0.0, 0, 0
        if count <= 0:
            return
        self._rt = total / count
        direction = (self._rt > self.target) - (self._rt < self.target)  # sign(rt - target)
        self._p = min(max(self._p + direction * self.step, 0.0), 1.0)
        self._push()
        log.debug("ADA: rt=%.4f p=%.5f", self._rt, self._p)

    def _push(self) -> None:
        if self.pipe is not None:
            self.pipe.set_p(self._p)

    def state_dict(self) -> dict[str, Any]:
        """Plain floats and ints (safe for torch.load(weights_only=True) and JSON)."""
        return dict(
            p=self._p,
            rt=self._rt,
            sign_sum=float(self._sign_sum),
            count=self._count,
            batches=self._batches,
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._p = float(state["p"])
        self._rt = None if state["rt"] is None else float(state["rt"])
        self._sign_sum = float(state["sign_sum"])
        self._count = int(state["count"])
        self._batches = int(state["batches"])
        self._push()


# ------------------------------------------------------------------------------------------------
# DiffAugment


def _da_color(x: torch.Tensor, rng: _Rng) -> torch.Tensor:
    n = x.shape[0]
    # Brightness: + U(-0.5, 0.5); saturation: chroma * U(0, 2); contrast: * U(0.5, 1.5).
    x = x + (rng.rand(n).to(x.dtype) - 0.5).view(n, 1, 1, 1)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (rng.rand(n).to(x.dtype) * 2).view(n, 1, 1, 1) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (rng.rand(n).to(x.dtype) + 0.5).view(n, 1, 1, 1) + mean


def _da_translation(x: torch.Tensor, rng: _Rng, ratio: float = 0.125) -> torch.Tensor:
    n, c, h, w = x.shape
    sx, sy = int(w * ratio + 0.5), int(h * ratio + 0.5)
    tx = rng.randint(-sx, sx + 1, n).view(n, 1, 1)
    ty = rng.randint(-sy, sy + 1, n).view(n, 1, 1)
    # Output pixel (i, j) reads input (i - ty, j - tx); outside the image reads zero.
    src_x = torch.arange(w, device=x.device).view(1, 1, w) - tx
    src_y = torch.arange(h, device=x.device).view(1, h, 1) - ty
    inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
    flat = (src_y.clamp(0, h - 1) * w + src_x.clamp(0, w - 1)).reshape(n, 1, h * w)
    out = x.reshape(n, c, h * w).gather(2, flat.expand(n, c, h * w)).reshape(n, c, h, w)
    return out * inside.unsqueeze(1).to(x.dtype)


def _da_cutout(x: torch.Tensor, rng: _Rng, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    cw, ch = int(w * ratio + 0.5), int(h * ratio + 0.5)
    # Square centre anywhere such that the square may hang over the edges by up to half its size.
    cx = rng.randint(0, w + (1 - cw % 2), n).view(n, 1, 1)
    cy = rng.randint(0, h + (1 - ch % 2), n).view(n, 1, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    x0, y0 = cx - cw // 2, cy - ch // 2
    hole = (xs >= x0) & (xs < x0 + cw) & (ys >= y0) & (ys < y0 + ch)
    return x * (~hole).unsqueeze(1).to(x.dtype)


_DA_OPS: dict[str, Callable[[torch.Tensor, _Rng], torch.Tensor]] = {
    "color": _da_color,
    "translation": _da_translation,
    "cutout": _da_cutout,
}


def _parse_policy(policy: str) -> list[str]:
    ops = [op.strip() for op in policy.split(",") if op.strip()]
    for op in ops:
        if op not in _DA_OPS:
            raise UserError(
                f"unknown DiffAugment op {op!r} in policy {policy!r}; "
                f"use a comma list of: {', '.join(DIFFAUG_OPS)}"
            )
    return ops


def diff_augment(
    x: torch.Tensor,
    policy: str = "color,translation,cutout",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) of float images [N, C, H, W], differentiable in `x`.

    color: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5) per image;
    translation: by a whole number of pixels in [-size/8, size/8] per axis, zero padding;
    cutout: a zeroed square of half the image size whose centre is uniform over the image.
    Every op applies to every image (there is no probability); ops run in policy order.
    """
    ops = _parse_policy(policy)
    rng = _Rng(generator, x.device)
    for op in ops:
        x = _DA_OPS[op](x, rng)
    return x


# ------------------------------------------------------------------------------------------------
# Factory used by the training loop


def _check_probability(p: Any) -> None:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise UserError(f"augment p={p!r} is outside [0, 1]; pass a probability between 0 and 1")


class Augment:
    """What the training loop holds: `aug(images)`, `aug.p`, `aug.update(real_logits)`.

    Build it with `make_augment`. `p` is the ADA probability ('ada', 'fixed'), 1.0 for
    'diffaug' (every image is augmented) and 0.0 for 'none'. `update` feeds the ADA controller
    and is a no-op in the other modes. `state_dict`/`load_state_dict` carry the ADA state.
    """

    def __init__(
        self,
        mode: str,
        *,
        pipe: AugmentPipe | None = None,
        controller: AdaController | None = None,
        policy: str = "",
        generator: torch.Generator | None = None,
    ) -> None:
        self.mode = mode
        self.pipe = pipe
        self.controller = controller
        self.policy = policy
        self.generator = generator

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.pipe is not None:
            return self.pipe(images, generator=self.generator)
        if self.mode == "diffaug":
            return diff_augment(images, self.policy, generator=self.generator)
        return images

    @property
    def p(self) -> float:
        if self.controller is not None:
            return self.controller.p
        if self.pipe is not None:
            return float(self.pipe.p)
        return 1.0 if self.mode == "diffaug" else 0.0

    @property
    def rt(self) -> float | None:
        """Last measured r_t in 'ada' mode, else None."""
        return self.controller.rt if self.controller is not None else None

    def update(self, real_logits: torch.Tensor) -> None:
        if self.controller is not None:
            self.controller.accumulate(real_logits)

    def state_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "ada": self.controller.state_dict() if self.controller else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("mode") != self.mode:
            raise UserError(
                f"the checkpoint was trained with --aug {state.get('mode')}, not {self.mode}; "
                f"resume with --aug {state.get('mode')}"
            )
        if self.controller is not None:
            self.controller.load_state_dict(state["ada"])

    def __repr__(self) -> str:
        return f"Augment(mode={self.mode!r}, p={self.p:.4f})"


def make_augment(
    mode: str,
    p: float = 0.0,
    *,
    batch_size: int | None = None,
    target: float = 0.6,
    interval: int = 4,
    kimg: float = 500,
    preset: str = "bgc",
    policy: str = "color,translation,cutout",
    generator: torch.Generator | None = None,
    reduce_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Augment:
    """Build the augmentation for an `--aug` mode.

    - "ada": AugmentPipe(preset) with p starting at `p`, tuned by AdaController(target, interval,
      kimg, batch_size); `batch_size` (total over processes) is required.
    - "fixed": AugmentPipe(preset) with constant p.
    - "diffaug": diff_augment with `policy` (p is ignored).
    - "none": identity.
    """
    if mode not in AUGMENT_MODES:
        raise UserError(f"unknown augment mode {mode!r}; choose one of: {', '.join(AUGMENT_MODES)}")
    _check_probability(p)
    if mode in ("ada", "fixed"):
        pipe = AugmentPipe.from_preset(preset)
        pipe.set_p(p)
        controller = None
        if mode == "ada":
            if batch_size is None:
                raise UserError("augment mode 'ada' needs batch_size=<total batch size>")
            controller = AdaController(
                target, interval, kimg, batch_size, p=p, pipe=pipe, reduce_fn=reduce_fn
            )
        return Augment(mode, pipe=pipe, controller=controller, generator=generator)
    if mode == "diffaug":
        _parse_policy(policy)
        return Augment(mode, policy=policy, generator=generator)
    return Augment(mode)
