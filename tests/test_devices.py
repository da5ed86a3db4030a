"""stylegen.devices.check_device and the --device flag of every command: a device this machine
lacks is one line naming it and what is available (exit 2), checked before any work."""

from __future__ import annotations

import pytest
import torch

import stylegen
from stylegen.commands import main
from stylegen.devices import available_devices, check_device, prepare_for_training
from stylegen.errors import UserError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_check_device_without_gpu(no_gpu):
    assert check_device("cpu") == torch.device("cpu")
    assert available_devices() == ["cpu"]
    for name in ("cuda", "cuda:3"):
        with pytest.raises(
            UserError,
            match=rf"device '{name}' is not available: no CUDA GPU.*"
            r"available here: cpu$",
        ):
            check_device(name)
    with pytest.raises(UserError, match=r"device 'mps' is not available: Apple's MPS"):
        check_device("mps")
    with pytest.raises(UserError, match=r"unknown device 'bogus'; available here: cpu"):
        check_device("bogus")
    with pytest.raises(UserError, match=r"device 'meta' is not supported by stylegen"):
        check_device("meta")


def test_check_device_with_two_gpus(two_gpus):
    assert check_device("cuda:1") == torch.device("cuda", 1)
    assert check_device(torch.device("cuda")) == torch.device("cuda")
    with pytest.raises(
        UserError,
        match=r"device 'cuda:3' does not exist: this machine has 2 CUDA GPU\(s\) \(cuda:0 to "
        r"cuda:1\); available here: cpu, cuda, cuda:0, cuda:1",
    ):
        check_device("cuda:3")


COMMANDS = {
    "train": ["train", "--data", "fashion-mnist", "--preset", "tiny"],
    "demo": ["demo"],
    "generate": ["generate", "--network", "N", "--outdir", "O"],
    "metrics": ["metrics", "--network", "N"],
    "translate": [
        "translate",
        "--network",
        "N",
        "--direction",
        "a2b",
        "--input",
        "I",
        "--outdir",
        "O",
    ],
    "video": ["video", "--network", "N", "--out", "v.gif"],
    "cyclegan train": ["cyclegan", "train", "--data-a", "A", "--data-b", "B"],
    "cyclegan eval": ["cyclegan", "eval", "--network", "N"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps", "bogus"])
def test_every_command_checks_the_device_first(
    no_gpu, tmp_path, monkeypatch, capsys, command, device
):
    monkeypatch.chdir(tmp_path)
    argv = (
        [*COMMANDS[command], "--outdir", str(tmp_path / "runs")]
        if command
        in (
            "train",
            "demo",
            "cyclegan train",
        )
        else COMMANDS[command]
    )
    assert main([*argv, "--device", device]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert f"device '{device}'" in line and "available here: cpu" in line
    assert list(tmp_path.iterdir()) == []


def test_library_entry_points(no_gpu, tmp_path):
    with pytest.raises(UserError, match="device 'cuda' is not available"):
        stylegen.load(tmp_path / "nothing", device="cuda")
    cfg = stylegen.TrainConfig(data="fashion-mnist", preset="tiny", device="cuda:1")
    cfg.outdir = str(tmp_path / "runs")
    with pytest.raises(UserError, match="device 'cuda:1' is not available"):
        stylegen.train(cfg)
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def saved_backend_flags():
    # restored by hand: monkeypatch cannot restore torch's cuBLAS flag attribute
    flags = _backend_flags()
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = flags[:2]
    torch.backends.cuda.matmul.allow_tf32 = flags[2]


def _backend_flags() -> tuple[bool, bool, bool]:
    return (
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
    )


@pytest.mark.usefixtures("saved_backend_flags")
def test_training_on_cuda_autotunes_and_keeps_float32_exact():
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    prepare_for_training(torch.device("cpu"))
    assert _backend_flags() == (False, True, True)  # other devices: nothing changes
    prepare_for_training(torch.device("cuda", 1))  # only flags: no GPU needed to set them
    assert _backend_flags() == (True, False, False)
