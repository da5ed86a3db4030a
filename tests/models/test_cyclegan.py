"""CycleGAN networks: shapes, parameter counts of the paper's networks, the PatchGAN receptive
field (analytic and by gradient), checkpoint round trips."""

import pytest
import torch
from torch import nn

import stylegen
from stylegen.errors import UserError
from stylegen.models.cyclegan import (
    PatchDiscriminator,
    PatchDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    default_num_blocks,
    patchgan_receptive_field,
)


def test_paper_networks_have_the_reference_parameter_counts():
    # The paper's code prints 11.378 M for its 9-block generator and 2.765 M for the 70x70 D.
    G = ResnetGenerator(ResnetGeneratorConfig())
    D = PatchDiscriminator(PatchDiscriminatorConfig())
    assert sum(p.numel() for p in G.parameters()) == 11_378_179
    assert sum(p.numel() for p in D.parameters()) == 2_764_737
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in G.modules()) == 2 + 2 * 9
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.modules()) == 2
    norms = [m for m in D.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 3  # every block but the first


def test_default_blocks_follow_the_paper():
    assert default_num_blocks(256) == 9
    assert [default_num_blocks(r) for r in (32, 64, 128)] == [6, 6, 6]


@pytest.mark.parametrize("channels,res", [(1, 32), (3, 20)])
def test_generator_keeps_shape_and_range(channels, res):
    G = ResnetGenerator(ResnetGeneratorConfig(channels, channels, ngf=4, num_blocks=2))
    x = torch.randn(2, channels, res, res) * 3
    y = G(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1


def test_discriminator_patch_map_shapes():
    D = PatchDiscriminator(PatchDiscriminatorConfig(in_channels=1, ndf=4))
    assert D(torch.zeros(2, 1, 256, 256)).shape == (2, 1, 30, 30)  # pix2pix's 30x30 patches
    D2 = PatchDiscriminator(PatchDiscriminatorConfig(in_channels=1, ndf=4, num_layers=2))
    assert D2(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 6, 6)


def test_receptive_field_analytic():
    assert patchgan_receptive_field(3) == 70
    assert patchgan_receptive_field(2) == 34
    assert patchgan_receptive_field(1) == 16


@pytest.mark.parametrize("num_layers", [2, 3])
def test_receptive_field_by_gradient(num_layers):
    """The input pixels that move one interior output logit form a field x field square."""
    D = PatchDiscriminator(PatchDiscriminatorConfig(in_channels=1, ndf=2, num_layers=num_layers))
    # Instance norm mixes every pixel into every output (through the mean and variance), which
    # would hide the convolutional field; the field is a property of the conv stack alone.
    for i, m in enumerate(D.net):
        if isinstance(m, nn.InstanceNorm2d):
            D.net[i] = nn.Identity()
    D = D.double()
    x = torch.randn(1, 1, 128, 128, dtype=torch.float64, requires_grad=True)
    out = D(x)
    r, c = out.shape[2] // 2, out.shape[3] // 2
    out[0, 0, r, c].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    field = patchgan_receptive_field(num_layers)
    assert rows.max() - rows.min() + 1 == field
    assert cols.max() - cols.min() + 1 == field
    assert rows.min() > 0 and rows.max() < 127  # interior: padding did not clip the field


def test_generator_checkpoint_round_trip(tmp_path):
    cfg = ResnetGeneratorConfig(1, 1, ngf=4, num_blocks=1, img_resolution=32, direction="b2a")
    G = ResnetGenerator(cfg)
    G.save(tmp_path / "g")
    G2 = stylegen.load(tmp_path / "g")
    assert isinstance(G2, ResnetGenerator) and G2.config == cfg
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(G.eval()(x), G2(x))


def test_bad_configs():
    with pytest.raises(UserError, match="in_channels 4"):
        ResnetGeneratorConfig(in_channels=4).validate()
    with pytest.raises(UserError, match="direction"):
        ResnetGeneratorConfig(direction="sideways").validate()
    with pytest.raises(UserError, match="num_layers 0"):
        PatchDiscriminatorConfig(num_layers=0).validate()
