"""StyleGAN3 alias-free generator (Karras et al. 2021, "Alias-Free Generative Adversarial
Networks").

The synthesis network treats feature maps as band-limited continuous signals:

* `SynthesisInput`: Fourier features (random frequencies in a disc of radius `bandwidth`) sampled
  on a pixel grid; the first w predicts a rotation + translation of the input, and the `transform`
  buffer is a user-set inverse transform, so an image can be translated/rotated at generation time.
* `SynthesisLayer`: modulated convolution (3x3 for config T, 1x1 for config R), then
  `filtered_lrelu`: upsample to a higher sampling rate, bias + leaky ReLU, low-pass filter and
  downsample. Filters are Kaiser-windowed sinc (separable) or, for config R, radially symmetric
  jinc filters. Cutoff, stopband and transition half-width follow the paper's geometric progression
  over the layers; the last `num_critical` layers are critically sampled. Each layer divides its
  input by the running RMS `magnitude_ema`.
* The last layer is ToRGB (1x1, no demodulation); the `margin_size` pixels around the image exist
  only inside the network and are cropped by the padding of the last layers.

Module, parameter and buffer names and shapes match the official `networks_stylegan3` snapshots, so
official weights load 1:1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.layers import FullyConnectedLayer
from stylegen.models.mapping import generator_mapping
from stylegen.models.registry import register_model
from stylegen.ops import filtered_lrelu

__all__ = [
    "Generator",
    "LayerSpec",
    "SynthesisInput",
    "SynthesisLayer",
    "StyleGAN3GeneratorConfig",
    "SynthesisNetwork",
    "design_lowpass_filter",
    "layer_specs",
]

NOISE_MODES = ("random", "const", "none")


@dataclass
class StyleGAN3GeneratorConfig:
    """StyleGAN3 (alias-free) generator; defaults are the paper's stylegan3-t (Karras et al. 2021).

    stylegan3-r: conv_kernel=1, use_radial_filters=True, channel_base and channel_max doubled.
    """

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 256
    img_channels: int = 3
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.998
    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14  # synthesis layers, excluding the Fourier input and ToRGB
    num_critical: int = 2  # critically sampled layers at the end
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4  # kept for interop with official snapshots; compute stays float32
    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    conv_clamp: float | None = 256
    magnitude_ema_beta: float = 0.999

    def validate(self) -> StyleGAN3GeneratorConfig:
        r = self.img_resolution
        if not isinstance(r, int) or r < 4 or r & (r - 1):
            raise UserError(
                f"resolution {r!r} cannot be served by the StyleGAN3 filter design: its sampling "
                "rates are powers of two, and the last layers must sample the image at exactly "
                "its resolution, so it needs a power of two >= 4; resize the data with "
                "`stylegen dataset --resolution 64` (or 32, 128, ...)"
            )
        # The last layers have channel_base / 2 / (resolution / 2) channels before the cap.
        if round(min(self.channel_base / r, self.channel_max)) < 1:
            raise UserError(
                f"channel_base {self.channel_base} leaves 0 channels at resolution {r}; "
                f"use channel_base >= {r // 2 + 1}"
            )
        if self.img_channels not in (1, 3, 4):
            raise UserError(f"img_channels {self.img_channels} must be 1, 3 or 4")
        for name in ("z_dim", "w_dim", "channel_base", "channel_max", "mapping_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)} must be a positive integer")
        if self.c_dim < 0:
            raise UserError(f"c_dim {self.c_dim} must be >= 0")
        if not 0 <= self.num_critical < self.num_layers:
            raise UserError(
                f"num_critical {self.num_critical} must be >= 0 and below num_layers "
                f"{self.num_layers}"
            )
        if self.conv_kernel < 1 or self.filter_size < 1 or self.lrelu_upsampling < 1:
            raise UserError("conv_kernel, filter_size and lrelu_upsampling must be >= 1")
        return self


# ---------------------------------------------------------------------------------------------
# Filter design


def design_lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """Kaiser-windowed low-pass filter; None for a single tap (identity).

    Separable: 1-D sinc with a Kaiser window meeting the transition band `width` (scipy.firwin).
    Radial: 2-D jinc J1(2 pi fc r) / (pi r) under the outer product of the same Kaiser window,
    normalised to unit DC gain.
    """
    if numtaps < 1:
        raise ValueError("numtaps must be >= 1")
    if numtaps == 1:
        return None
    if not radial:
        taps = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(taps, dtype=torch.float32)
    coords = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(coords, coords))
    safe_r = np.where(r == 0, 1.0, r)
    # The jinc's limit at r = 0 is the cutoff itself (only reached for odd tap counts).
    f = np.where(r == 0, cutoff, scipy.special.j1(2 * np.pi * cutoff * safe_r) / (np.pi * safe_r))
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


@dataclass(frozen=True)
class LayerSpec:
    """Signal parameters of one synthesis layer's output (index 0 is the Fourier input)."""

    cutoff: float  # f_c
    stopband: float  # f_t
    sampling_rate: int  # s
    half_width: float  # f_h
    size: int  # spatial size including the margin
    channels: int


def layer_specs(cfg: StyleGAN3GeneratorConfig) -> list[LayerSpec]:
    """The paper's per-layer filter progression (section 3.2 / appendix F), num_layers + 1 entries.

    Cutoffs and minimum stopbands grow geometrically from the first layer to the last
    non-critical one and then stay at the output's Nyquist rate; sampling rates are the smallest
    powers of two above twice the stopband, capped at the output resolution.
    """
    n, res = cfg.num_layers, cfg.img_resolution
    last_cutoff = res / 2
    last_stopband = last_cutoff * cfg.last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / (n - cfg.num_critical), 1)
    cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** exponents
    stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + cfg.margin_size * 2
    sizes[-2:] = res
    channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
    channels[-1] = cfg.img_channels
    return [
        LayerSpec(
            float(cutoffs[i]),
            float(stopbands[i]),
            int(rates[i]),
            float(half_widths[i]),
            int(sizes[i]),
            int(channels[i]),
        )
        for i in range(n + 1)
    ]


# ---------------------------------------------------------------------------------------------
# Modules


class SynthesisInput(nn.Module):
    """Fourier features, rotated/translated by the first w and by the user `transform` buffer."""

    def __init__(
        self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = int(size)
        self.sampling_rate = float(sampling_rate)
        self.bandwidth = float(bandwidth)
        # Frequencies spread over the disc of radius `bandwidth`, random phases.
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        phases = torch.rand([channels]) - 0.5
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        # transform: the inverse of the transform applied to the image (identity = none).
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)
        # Predicts (cos, sin, tx, ty); starts at the identity.
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin, tx, ty = t.unbind(dim=1)
        eye = torch.eye(3, device=w.device, dtype=w.dtype).expand(n, 3, 3)
        # Inverse rotation and inverse translation of the image, then the user's inverse transform.
        m_r = eye.clone()
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = cos, -sin, sin, cos
        m_t = eye.clone()
        m_t[:, 0, 2], m_t[:, 1, 2] = -tx, -ty
        transforms = m_r @ m_t @ self.transform.to(w.dtype).unsqueeze(0)

        freqs = self.freqs.unsqueeze(0)  # [N, C, 2]
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Fade out frequencies that the user transform pushes past the band limit.
        amplitudes = 1 - (freqs.norm(dim=2) - self.bandwidth) / (
            self.sampling_rate / 2 - self.bandwidth
        )
        amplitudes = amplitudes.clamp(0, 1)

        # Pixel centres in units of the signal: (j + 0.5 - size / 2) / sampling_rate.
        coords = (
            torch.arange(self.size, device=w.device, dtype=w.dtype) + 0.5 - self.size / 2
        ) / self.sampling_rate
        fx = freqs[:, :, 0].unsqueeze(1).unsqueeze(1)  # [N, 1, 1, C]
        fy = freqs[:, :, 1].unsqueeze(1).unsqueeze(1)
        arg = coords.view(1, 1, -1, 1) * fx + coords.view(1, -1, 1, 1) * fy
        x = torch.sin((arg + phases.unsqueeze(1).unsqueeze(1)) * (2 * math.pi))
        x = x * amplitudes.unsqueeze(1).unsqueeze(1)  # [N, H, W, C]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2).contiguous()

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
            f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"
        )


def _modulated_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    padding: int,
    input_gain: torch.Tensor,
) -> torch.Tensor:
    """StyleGAN3's modulated convolution, computed by scaling activations.

    The official op pre-normalises weight and styles (exact no-ops after demodulation up to the
    epsilon), builds per-sample weights and runs a grouped convolution. Scaling the input by the
    styles, convolving with the shared weight and scaling the output by the demodulation
    coefficients is the same linear map and much faster on CPU.
    """
    n = x.shape[0]
    if demodulate:
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    x = x * (styles * input_gain).to(x.dtype).reshape(n, -1, 1, 1)
    x = F.conv2d(x, weight.to(x.dtype), padding=padding)
    if demodulate:
        # sum_{i,k} (w[o,i,k] s[n,i])^2 as a small matmul.
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
        x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
    return x


class SynthesisLayer(nn.Module):
    """Modulated conv + filtered leaky ReLU between two sampling rates (or the final ToRGB)."""

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        in_channels: int,
        out_channels: int,
        in_size: int,
        out_size: int,
        in_sampling_rate: int,
        out_sampling_rate: int,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.in_size = int(in_size)
        self.out_size = int(out_size)
        self.in_sampling_rate = in_sampling_rate
        self.out_sampling_rate = out_sampling_rate
        # The leaky ReLU runs at `lrelu_upsampling` times the higher of the two rates.
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (
            1 if is_torgb else lrelu_upsampling
        )
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.in_half_width, self.out_half_width = in_half_width, out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        k = self.conv_kernel
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, k, k]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = self._rate_ratio(self.tmp_sampling_rate, in_sampling_rate)
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        up_filter = design_lowpass_filter(
            self.up_taps, in_cutoff, in_half_width * 2, self.tmp_sampling_rate
        )
        self.register_buffer("up_filter", up_filter)
        self.down_factor = self._rate_ratio(self.tmp_sampling_rate, out_sampling_rate)
        self.down_taps = (
            filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        )
        self.down_radial = use_radial_filters and not is_critically_sampled
        down_filter = design_lowpass_filter(
            self.down_taps,
            out_cutoff,
            out_half_width * 2,
            self.tmp_sampling_rate,
            radial=self.down_radial,
        )
        self.register_buffer("down_filter", down_filter)

        # Pad so that the output has `out_size` pixels, sample positions centred as in the
        # paper's symmetric interpretation (appendix C.3); negative padding crops the margin.
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + k - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [pad_lo, pad_hi, pad_lo, pad_hi]

    @staticmethod
    def _rate_ratio(high: float, low: float) -> int:
        ratio = int(round(high / low))
        if low * ratio != high:
            raise ValueError(f"sampling rates {high} and {low} are not integer multiples")
        return ratio

    def forward(self, x: torch.Tensor, w: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
        if update_emas:
            with torch.no_grad():
                current = x.detach().to(torch.float32).square().mean()
                self.magnitude_ema.copy_(current.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel**2))
        x = _modulated_conv(
            x,
            self.weight,
            styles,
            demodulate=not self.is_torgb,
            padding=self.conv_kernel - 1,
            input_gain=input_gain,
        )
        return filtered_lrelu(
            x,
            self.up_filter,
            self.down_filter,
            self.bias.to(x.dtype),
            up=self.up_factor,
            down=self.down_factor,
            padding=self.padding,
            gain=1.0 if self.is_torgb else math.sqrt(2),
            slope=1.0 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )

    def extra_repr(self) -> str:
        return (
            f"in={self.in_channels}, out={self.out_channels}, torgb={self.is_torgb}, "
            f"critical={self.is_critically_sampled}, rates={self.in_sampling_rate}->"
            f"{self.tmp_sampling_rate}->{self.out_sampling_rate}, "
            f"cutoff={self.in_cutoff:g}->{self.out_cutoff:g}, "
            f"size={self.in_size}->{self.out_size}"
        )


class SynthesisNetwork(nn.Module):
    """ws [N, num_layers + 2, w_dim] -> image [N, C, H, W]."""

    def __init__(self, cfg: StyleGAN3GeneratorConfig) -> None:
        super().__init__()
        self.w_dim = cfg.w_dim
        self.num_ws = cfg.num_layers + 2
        self.img_resolution = cfg.img_resolution
        self.img_channels = cfg.img_channels
        self.num_layers = cfg.num_layers
        self.output_scale = cfg.output_scale
        self.specs = specs = layer_specs(cfg)
        self.input = SynthesisInput(
            cfg.w_dim,
            specs[0].channels,
            specs[0].size,
            specs[0].sampling_rate,
            specs[0].cutoff,
        )
        self.layer_names: list[str] = []
        for idx in range(cfg.num_layers + 1):
            prev, cur = specs[max(idx - 1, 0)], specs[idx]
            layer = SynthesisLayer(
                w_dim=cfg.w_dim,
                is_torgb=idx == cfg.num_layers,
                is_critically_sampled=idx >= cfg.num_layers - cfg.num_critical,
                in_channels=prev.channels,
                out_channels=cur.channels,
                in_size=prev.size,
                out_size=cur.size,
                in_sampling_rate=prev.sampling_rate,
                out_sampling_rate=cur.sampling_rate,
                in_cutoff=prev.cutoff,
                out_cutoff=cur.cutoff,
                in_half_width=prev.half_width,
                out_half_width=cur.half_width,
                conv_kernel=cfg.conv_kernel,
                filter_size=cfg.filter_size,
                lrelu_upsampling=cfg.lrelu_upsampling,
                use_radial_filters=cfg.use_radial_filters,
                conv_clamp=cfg.conv_clamp,
                magnitude_ema_beta=cfg.magnitude_ema_beta,
            )
            name = f"L{idx}_{cur.size}_{cur.channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def layers(self) -> list[SynthesisLayer]:
        return [getattr(self, name) for name in self.layer_names]

    def forward(
        self, ws: torch.Tensor, update_emas: bool = False, noise_mode: str = "const", **_: object
    ) -> torch.Tensor:
        """`noise_mode` (and other StyleGAN2 options) are accepted and ignored: no noise inputs."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode {noise_mode!r} must be one of {NOISE_MODES}")
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        w_list = ws.to(torch.float32).unbind(dim=1)
        x = self.input(w_list[0])
        for layer, w in zip(self.layers(), w_list[1:], strict=True):
            x = layer(x, w, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


@register_model("stylegan3.Generator")
class Generator(ConfiguredModule):
    """StyleGAN3 generator: mapping (z, c) -> ws, alias-free synthesis ws -> image."""

    config_class = StyleGAN3GeneratorConfig

    def __init__(self, config: StyleGAN3GeneratorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        # Built before the mapping network so state_dict order matches official snapshots.
        self.synthesis = SynthesisNetwork(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = generator_mapping(config, self.num_ws)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
        noise_mode: str = "const",
        **synthesis_kwargs: object,
    ) -> torch.Tensor:
        ws = self.mapping(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            update_emas=update_emas,
        )
        return self.synthesis(
            ws, update_emas=update_emas, noise_mode=noise_mode, **synthesis_kwargs
        )

    def set_transform(self, translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0):
        """Translate (image widths, x right / y down) and rotate (degrees) the generated images."""
        self.synthesis.input.transform.copy_(input_transform(translate, rotate))


def input_transform(
    translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0
) -> torch.Tensor:
    """The `transform` buffer that translates by `translate` and rotates by `rotate` degrees.

    It is the inverse of [[cos, sin, tx], [-sin, cos, ty], [0, 0, 1]], as the official
    gen_images.py sets it. The output image spans one unit of the input's coordinates, so a
    translation of 1 / img_resolution moves the image by one pixel.
    """
    a = math.radians(rotate)
    m = np.array(
        [
            [math.cos(a), math.sin(a), translate[0]],
            [-math.sin(a), math.cos(a), translate[1]],
            [0.0, 0.0, 1.0],
        ]
    )
    return torch.from_numpy(np.linalg.inv(m)).to(torch.float32)
