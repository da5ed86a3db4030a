"""Networks: StyleGAN2 generator and discriminator, StyleGAN3 generator, CycleGAN generator and
discriminator, the baselines (MLP GAN, DCGAN, their conditional forms, the VAE), ProGAN generator
and discriminator, StyleGAN (2019) generator, the upscalers (SRCNN, ESPCN). Importing this
package imports every family, so every model class is registered (models/registry.py) before a
checkpoint is read."""

from stylegen.models.cyclegan import PatchDiscriminator, ResnetGenerator
from stylegen.models.discriminator import Discriminator, DiscriminatorConfig
from stylegen.models.gan import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from stylegen.models.mapping import MappingNetwork
from stylegen.models.precision import set_reduced_precision
from stylegen.models.progan import ProGANDiscriminatorConfig, ProGANGeneratorConfig
from stylegen.models.registry import build_model, lookup, name_of, registered_models
from stylegen.models.stylegan1 import StyleGAN1GeneratorConfig
from stylegen.models.stylegan2 import Generator, GeneratorConfig, SynthesisNetwork
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig
from stylegen.models.superres import ESPCN, SRCNN
from stylegen.models.vae import VAE

__all__ = [
    "DCGANDiscriminator",
    "ESPCN",
    "DCGANGenerator",
    "Discriminator",
    "DiscriminatorConfig",
    "Generator",
    "GeneratorConfig",
    "MLPDiscriminator",
    "MLPGenerator",
    "MappingNetwork",
    "PatchDiscriminator",
    "ProGANDiscriminatorConfig",
    "ProGANGeneratorConfig",
    "ResnetGenerator",
    "SRCNN",
    "StyleGAN1GeneratorConfig",
    "StyleGAN3GeneratorConfig",
    "SynthesisNetwork",
    "VAE",
    "build_model",
    "lookup",
    "name_of",
    "registered_models",
    "set_reduced_precision",
]
