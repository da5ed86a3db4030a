"""Networks: StyleGAN2 generator and discriminator, StyleGAN3 generator (more families join as they
land)."""

from stylegen.models.discriminator import Discriminator
from stylegen.models.mapping import MappingNetwork
from stylegen.models.precision import set_reduced_precision
from stylegen.models.stylegan2 import Generator, SynthesisNetwork

__all__ = [
    "Discriminator",
    "Generator",
    "MappingNetwork",
    "SynthesisNetwork",
    "set_reduced_precision",
]
