"""Pure-PyTorch kernels of StyleGAN2/3: FIR resampling, bias+activation, modulated convolution,
filtered leaky ReLU (StyleGAN3).

Everything here is differentiable and runs on any device PyTorch supports; nothing is compiled.
"""

from stylegen.ops.bias_act import ACTIVATIONS, bias_act, foldable_gain
from stylegen.ops.conv2d_resample import conv2d_resample
from stylegen.ops.filtered_lrelu import filtered_lrelu
from stylegen.ops.modulated_conv2d import modulated_conv2d
from stylegen.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "ACTIVATIONS",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "filter2d",
    "filtered_lrelu",
    "foldable_gain",
    "modulated_conv2d",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
