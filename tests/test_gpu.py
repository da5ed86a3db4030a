"""The `gpu` subset (`pytest -m gpu`): networks on CUDA match their CPU results, training steps run
on CUDA in float32 and mixed precision, and a snapshot of a CUDA run loads on the CPU.

Every test is skipped on a machine without CUDA. The float32 comparisons turn TF32 off (cuDNN
uses it for float32 convolutions by default), so that both devices compute in true float32 and
agree to ~1e-4 relative (different kernels, different summation order).
"""

from __future__ import annotations

import copy

import pytest
import torch

import stylegen
from stylegen.models import Discriminator, Generator, build_model
from stylegen.training.stylegan import STYLEGAN
from stylegen.training.stylegan_config import TrainConfig, build_configs
from stylegen.training.trainer import new_step

DEVICE = "cuda"
RTOL = 1e-4  # relative error ||gpu - cpu|| / ||cpu||

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture
def no_tf32():
    # set and restored by hand: monkeypatch cannot restore torch's cuBLAS flag attributes
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def assert_close_relative(gpu: torch.Tensor, cpu: torch.Tensor) -> None:
    gpu = gpu.detach().float().cpu()
    cpu = cpu.detach().float()
    assert torch.isfinite(gpu).all()
    err = ((gpu - cpu).norm() / cpu.norm().clamp_min(1e-12)).item()
    assert err < RTOL, f"relative error {err:.2e}"


def _on_both(module: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    module.eval()
    return module, copy.deepcopy(module).to(DEVICE)


def _inputs(batch: int, z_dim: int, c_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, z_dim, generator=gen), torch.eye(c_dim)[torch.arange(batch) % c_dim]


@pytest.mark.usefixtures("no_tf32")
def test_stylegan2_generator_and_discriminator_match_cpu():
    g_cfg, d_cfg = build_configs("tiny", img_resolution=32, img_channels=3, c_dim=3)
    G_cpu, G_gpu = _on_both(Generator(g_cfg))
    D_cpu, D_gpu = _on_both(Discriminator(d_cfg))
    z, c = _inputs(4, G_cpu.z_dim, 3)
    with torch.no_grad():
        img = G_cpu(z, c, noise_mode="const")
        assert_close_relative(G_gpu(z.to(DEVICE), c.to(DEVICE), noise_mode="const"), img)
        assert_close_relative(D_gpu(img.to(DEVICE), c.to(DEVICE)), D_cpu(img, c))


@pytest.mark.usefixtures("no_tf32")
def test_stylegan3_generator_matches_cpu():
    g_cfg, _ = build_configs("tiny", img_resolution=32, img_channels=3, arch="stylegan3-t")
    G_cpu, G_gpu = _on_both(build_model(g_cfg))
    z, _ = _inputs(2, G_cpu.z_dim, 1)
    with torch.no_grad():
        assert_close_relative(G_gpu(z.to(DEVICE), None), G_cpu(z, None))


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(data="fashion-mnist", preset="tiny", max_size=64, snap=100, device=DEVICE)
    return TrainConfig(outdir=str(tmp_path / "runs"), **{**base, **kw})


@pytest.mark.parametrize("precision", ["fp32", "mixed"])
def test_training_steps_on_cuda_give_finite_losses(tmp_path, precision):
    # num_fp16_res 2: the tiny preset's two highest resolutions run in bfloat16 when mixed
    fp16 = {"num_fp16_res": 2}
    step = new_step(
        STYLEGAN, _cfg(tmp_path, precision=precision, G_overrides=fp16, D_overrides=fp16)
    )
    assert next(step.G.parameters()).device.type == "cuda"
    # as the official training loops: cuDNN autotuning, no TF32 in float32
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.allow_tf32
    if precision == "mixed":
        assert step.G.synthesis.b32.reduced_precision and step.D.b32.reduced_precision
    for i in range(2):  # step 0 runs every phase (G, G reg, D + R1)
        assert step.train_step(i * step.batch, i) == 0  # no step skipped for a non-finite loss
    stats = step.stats.tick()
    assert any(name.startswith("Loss/") for name in stats)
    for name, value in stats.items():
        assert torch.isfinite(torch.tensor(float(value))), name


def test_snapshot_of_a_cuda_run_loads_on_cpu_with_the_same_images(tmp_path, no_tf32):
    snapshot = stylegen.train(_cfg(tmp_path, kimg=0.016))  # 2 steps of batch 8
    G_cpu = stylegen.load(snapshot, device="cpu")
    G_gpu = stylegen.load(snapshot, device=DEVICE)
    assert next(G_cpu.parameters()).device.type == "cpu"
    z, c = _inputs(4, G_cpu.z_dim, max(G_cpu.c_dim, 1))
    c = c if G_cpu.c_dim else None
    with torch.no_grad():
        img = G_cpu(z, c, noise_mode="const")
        gpu_c = None if c is None else c.to(DEVICE)
        assert_close_relative(G_gpu(z.to(DEVICE), gpu_c, noise_mode="const"), img)
    a = stylegen.generate_images(G_cpu, seeds=[0, 1], device="cpu")
    b = stylegen.generate_images(G_gpu, seeds=[0, 1], device=DEVICE)
    assert (a.int() - b.cpu().int()).abs().max() <= 1  # uint8 rounding may differ by one level
