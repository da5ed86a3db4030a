"""stylegen: style-based image synthesis in pure PyTorch (StyleGAN2, Karras et al. 2020, ...).

The public API is re-exported here; submodules hold the implementation.
"""

__version__ = "0.1.0"
