"""Reduced precision (official num_fp16_res, run in bfloat16): which blocks, what changes."""

import dataclasses

import pytest
import torch

from stylegen.errors import UserError
from stylegen.models import Discriminator, Generator, set_reduced_precision
from stylegen.models.precision import fp16_resolution
from stylegen.training.stylegan_config import TrainConfig, build_configs


@pytest.mark.parametrize(
    ("res", "num", "expected"),
    # Official rule: max(2 ** (log2(res) + 1 - num_fp16_res), 8).
    [(32, 4, 8), (256, 4, 32), (1024, 4, 128), (32, 1, 32), (8, 4, 8), (32, 0, 64)],
)
def test_fp16_resolution_follows_official_rule(res, num, expected):
    assert fp16_resolution(res, num) == expected


def _nets(num_fp16_res: int, arch: str = "skip"):
    g, d = build_configs("tiny", img_resolution=32, img_channels=3, c_dim=3)
    g = dataclasses.replace(g, num_fp16_res=num_fp16_res, architecture=arch)
    d = dataclasses.replace(d, num_fp16_res=num_fp16_res, architecture="resnet")
    torch.manual_seed(0)
    return Generator(g), Discriminator(d)


def _inputs():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(4, 32, generator=gen), torch.eye(3)[[0, 1, 2, 0]]


def test_eligible_blocks_are_the_highest_resolutions():
    G, D = _nets(2)
    assert [G.synthesis.get_submodule(f"b{r}").use_fp16 for r in (4, 8, 16, 32)] == [
        False,
        False,
        True,
        True,
    ]
    assert [D.get_submodule(f"b{r}").use_fp16 for r in (32, 16, 8)] == [True, True, False]


@pytest.mark.parametrize("arch", ["skip", "resnet"])
def test_off_by_default_outputs_equal_float32_network(arch):
    G16, D16 = _nets(4, arch)
    G32, D32 = _nets(0, arch)
    G32.load_state_dict(G16.state_dict())
    D32.load_state_dict(D16.state_dict())
    z, c = _inputs()
    with torch.no_grad():
        img = G16(z, c, noise_mode="const")
        assert torch.equal(img, G32(z, c, noise_mode="const"))
        assert torch.equal(D16(img, c), D32(img, c))


def _record_conv_input_dtypes(module):
    seen = {}

    def hook(name):
        return lambda mod, args: seen.__setitem__(name, args[0].dtype)

    for name, sub in module.named_modules():
        if name.endswith("conv1"):
            sub.register_forward_pre_hook(hook(name))
    return seen


@pytest.mark.parametrize("arch", ["skip", "resnet"])
def test_enabled_runs_eligible_blocks_in_bfloat16_close_to_float32(arch):
    G, D = _nets(4, arch)
    z, c = _inputs()
    with torch.no_grad():
        ref_img = G(z, c, noise_mode="const")
        ref_logits = D(ref_img, c)
    set_reduced_precision(G, True)
    set_reduced_precision(D, True)
    g_seen, d_seen = _record_conv_input_dtypes(G), _record_conv_input_dtypes(D)
    img = G(z, c, noise_mode="const")
    logits = D(img, c)
    assert g_seen["synthesis.b4.conv1"] == torch.float32
    assert g_seen["synthesis.b32.conv1"] == torch.bfloat16
    assert d_seen["b32.conv1"] == torch.bfloat16
    assert img.dtype == logits.dtype == torch.float32
    # bfloat16 keeps 8 mantissa bits: about 1% relative error after a few layers.
    scale = ref_img.abs().max()
    assert 0 < (img - ref_img).abs().max() < 0.05 * scale
    assert (logits - ref_logits).abs().max() < 0.05 * ref_logits.abs().max() + 1e-3
    logits.sum().backward()
    for name, p in list(G.named_parameters()) + list(D.named_parameters()):
        assert p.grad is None or (p.grad.dtype == torch.float32 and p.grad.isfinite().all()), name


def test_switching_back_restores_float32_exactly():
    G, _ = _nets(4)
    z, c = _inputs()
    with torch.no_grad():
        ref = G(z, c, noise_mode="const")
        set_reduced_precision(G, True)
        set_reduced_precision(G, False)
        assert torch.equal(G(z, c, noise_mode="const"), ref)


def test_unknown_precision_is_refused():
    with pytest.raises(
        UserError, match="unknown --precision 'fp8'; choose one of: fp32, mixed, auto"
    ):
        TrainConfig(data="x", precision="fp8").resolved()


# --precision auto: bfloat16 only where the device computes it in hardware.

CPUINFO_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
CPUINFO_AMX = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw amx_bf16 amx_tile\n"
CPUINFO_AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
CPUINFO_ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"


@pytest.fixture
def cpuinfo(monkeypatch, tmp_path):
    """Point the flag reader at a fake /proc/cpuinfo with the given text."""
    from stylegen.models import precision

    def use(text: str) -> None:
        fake = tmp_path / "cpuinfo"
        fake.write_text(text)
        monkeypatch.setattr(precision, "CPUINFO", fake)

    return use


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        (CPUINFO_AVX2, False),
        (CPUINFO_AMX, True),
        (CPUINFO_AVX512_BF16, True),
        (CPUINFO_ARM_BF16, True),
    ],
    ids=["avx2", "amx", "avx512-bf16", "arm-bf16"],
)
def test_auto_precision_follows_the_cpu_bfloat16_flags(cpuinfo, text, fast):
    from stylegen.models.precision import has_fast_bfloat16, resolve_precision

    cpuinfo(text)
    assert has_fast_bfloat16("cpu") is fast
    assert resolve_precision("auto", "cpu") == ("mixed" if fast else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32"  # an explicit choice is kept


def test_explicit_mixed_on_a_cpu_without_bfloat16_warns_but_is_kept(cpuinfo, caplog):
    from stylegen.models.precision import resolve_precision

    cpuinfo(CPUINFO_AVX2)
    with caplog.at_level("WARNING", logger="stylegen.models.precision"):
        assert resolve_precision("mixed", "cpu") == "mixed"
    assert "no bfloat16 hardware" in caplog.text and "--precision auto" in caplog.text


@pytest.mark.parametrize(("text", "reduced"), [(CPUINFO_AVX2, False), (CPUINFO_AMX, True)])
def test_training_step_with_auto_precision_uses_what_the_cpu_has(cpuinfo, text, reduced):
    from stylegen.training.stylegan import STYLEGAN
    from stylegen.training.trainer import new_step

    cpuinfo(text)
    cfg = TrainConfig(
        data="fashion-mnist",
        max_size=64,
        preset="tiny",
        precision="auto",
        G_overrides={"num_fp16_res": 2},
        D_overrides={"num_fp16_res": 2},
    )
    step = new_step(STYLEGAN, cfg)
    assert step.precision == ("mixed" if reduced else "fp32")
    assert step.G.synthesis.b32.reduced_precision is reduced
    assert step.D.b32.reduced_precision is reduced
    assert not step.G_ema.synthesis.b32.reduced_precision
