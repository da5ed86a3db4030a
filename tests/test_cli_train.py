"""`stylegen train` / `demo` / `dataset` through main(): dry run, a tiny run, resume, bad input."""

import json

import torch
from PIL import Image

from stylegen.commands import main
from stylegen.models import precision
from stylegen.training import stylegan


def test_dry_run_prints_resolved_config(capsys):
    assert main(["train", "--data", "fashion-mnist", "--preset", "cifar", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["batch"] == 64 and cfg["gamma"] == 0.01 and cfg["aug"] == "ada"


def test_shared_fakes_flag_overrides_the_preset(capsys):
    base = ["train", "--data", "fashion-mnist", "--dry-run"]
    assert main(base) == 0
    assert json.loads(capsys.readouterr().out)["shared_fakes"] is False  # cpu32: official order
    assert main([*base, "--shared-fakes"]) == 0
    assert json.loads(capsys.readouterr().out)["shared_fakes"] is True
    fast = [*base, "--preset", "cpu32-fast-cond", "--cond"]
    assert main(fast) == 0
    assert json.loads(capsys.readouterr().out)["shared_fakes"] is True  # the demo's preset
    assert main([*base, "--preset", "cpu32-fast"]) == 0
    assert json.loads(capsys.readouterr().out)["shared_fakes"] is True
    assert main([*fast, "--no-shared-fakes"]) == 0
    assert json.loads(capsys.readouterr().out)["shared_fakes"] is False


def test_tiny_run_then_resume_then_generate(tmp_path, capsys):
    out = tmp_path / "runs"
    args = [
        "train",
        "--data",
        "fashion-mnist",
        "--preset",
        "tiny",
        "--max-size",
        "64",
        "--kimg",
        "0.016",
        "--outdir",
        str(out),
        "--cond",
        "--threads",
        "2",
    ]
    assert main(args) == 0
    run = next(out.iterdir())
    assert (run / "snapshot-000000.016" / "samples.png").exists()
    assert main(["train", "--resume", str(run), "--minutes", "-1"]) == 2  # a new budget, checked
    assert "--minutes -1.0 must be > 0" in capsys.readouterr().err
    # Options the resumed run would not use are refused, not dropped; the run is untouched.
    options = tmp_path / "options.json"
    options.write_text('{"gamma": 5}')
    cases = [
        ("--gamma", "5", "--gamma"),
        ("--tick", "1", "--tick"),
        ("--config", options, "--config"),
    ]
    for flag, value, shown in cases:
        assert main(["train", "--resume", str(run), flag, str(value), "--kimg", "0.032"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"{shown} cannot change on --resume" in err, err
    assert not (run / "snapshot-000000.032").exists()
    assert main(["train", "--resume", str(run), "--kimg", "0.032"]) == 0
    assert (run / "snapshot-000000.032").exists()
    assert (
        main(
            [
                "generate",
                "--network",
                str(run),
                "--seeds",
                "0-1",
                "--class",
                "2",
                "--outdir",
                str(tmp_path / "gen"),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "gen").iterdir())) == 2


def test_train_bad_input(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nothing")]) == 2
    assert "neither an existing folder" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--data is required" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    dry = ["train", "--data", "fashion-mnist", "--dry-run"]
    assert main([*dry, "--minutes", "0"]) == 2
    assert "--minutes 0.0 must be > 0" in capsys.readouterr().err
    assert main([*dry, "--arch", "dcgan", "--minutes", "0"]) == 2  # every family has a budget
    assert "--minutes 0.0 must be > 0" in capsys.readouterr().err
    assert main([*dry, "--arch", "dcgan", "--minutes", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["minutes"] == 5.0
    assert main([*dry, "--minutes", "2.5"]) == 0
    assert json.loads(capsys.readouterr().out)["minutes"] == 2.5


def test_dataset_command(tmp_path, capsys):
    src = tmp_path / "src"
    for cls in ("cats", "dogs"):
        (src / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 30), (i * 50, 0, 0)).save(src / cls / f"{i}.png")
    dest = tmp_path / "out.zip"
    rc = main(
        [
            "dataset",
            "--source",
            str(src),
            "--dest",
            str(dest),
            "--resolution",
            "16",
            "--labels",
            "folders",
        ]
    )
    assert rc == 0 and dest.exists()
    assert (
        main(
            [
                "dataset",
                "--source",
                str(src),
                "--dest",
                str(tmp_path / "bad.zip"),
                "--resolution",
                "12",
            ]
        )
        == 2
    )
    assert "12" in capsys.readouterr().err and not (tmp_path / "bad.zip").exists()


def test_demo_trains_at_batch_8_on_a_cpu_without_bfloat16_hardware(tmp_path, monkeypatch, capsys):
    seen = []

    def fake_train(cfg, progress=None):
        seen.append(cfg)
        snap = tmp_path / "run" / "snapshot-000000.008"
        snap.mkdir(parents=True, exist_ok=True)
        return snap

    monkeypatch.setattr(stylegan, "train", fake_train)
    for fast, batch in ((False, 8), (True, 16)):
        monkeypatch.setattr(precision, "has_fast_bfloat16", lambda device, fast=fast: fast)
        assert main(["demo", "--outdir", str(tmp_path / "runs"), "--minutes", "1"]) == 0
        assert (seen[-1].batch, seen[-1].minutes, seen[-1].device) == (batch, 1.0, "cpu")
    assert seen[-1].outdir == str(tmp_path / "runs")


def test_a_run_started_on_a_gpu_resumes_on_the_cpu(tmp_path, capsys, monkeypatch):
    out = tmp_path / "runs"
    tiny = ["--preset", "tiny", "--max-size", "64", "--threads", "2", "--outdir", str(out)]
    assert main(["train", "--data", "fashion-mnist", "--kimg", "0.016", *tiny]) == 0
    run = next(out.iterdir())
    # As if trained on a GPU machine (its snapshot holds CPU tensors either way), now on a
    # machine without one.
    options_file = run / "training_options.json"
    options = json.loads(options_file.read_text())
    options_file.write_text(json.dumps({**options, "device": "cuda"}))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert main(["train", "--resume", str(run), "--kimg", "0.032"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'cuda' is not available" in err, err
    assert "--device cpu with --resume continues it on this machine's CPU" in err
    resume_here = ["train", "--resume", str(run), "--device", "cpu", "--threads", "1"]
    assert main([*resume_here, "--kimg", "0.032"]) == 0
    assert (run / "snapshot-000000.032" / "model.safetensors").exists()
    # The run's options now say where and how far it trains, so the next --resume (here without
    # --device) goes on on the CPU instead of asking for CUDA again.
    options = json.loads(options_file.read_text())
    assert (options["device"], options["kimg"], options["threads"]) == ("cpu", 0.032, 1)
    assert main(["train", "--resume", str(run), "--kimg", "0.048"]) == 0
    assert (run / "snapshot-000000.048" / "model.safetensors").exists()
    assert json.loads(options_file.read_text())["kimg"] == 0.048
