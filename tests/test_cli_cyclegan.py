"""`stylegen cyclegan train|eval` and `stylegen translate` through main(): a tiny run, translate
round trips, evaluation, and every bad input as one line with exit code 2."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.commands import main
from stylegen.data.open import open_dataset
from stylegen.images import save_image
from stylegen.metrics import frechet_distance
from stylegen.models import Generator
from stylegen.training.stylegan_config import build_configs
from stylegen.translate import evaluate, load_translator, translate_images

A, B = "fashion-mnist:sneaker", "fashion-mnist:ankle-boot"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cg") / "runs"
    args = ["cyclegan", "train", "--data-a", A, "--data-b", B, "--preset", "tiny"]
    args += ["--max-size", "8", "--epochs", "1", "--decay-epochs", "0", "--outdir", str(out)]
    assert main(args + ["--threads", "1"]) == 0
    return next(out.iterdir())


@pytest.fixture(scope="module")
def stylegan_net(tmp_path_factory):
    g, _ = build_configs("tiny", img_resolution=8)
    return Generator(g).save(tmp_path_factory.mktemp("sg") / "ck")


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for f in fragments:
        assert f in err, err


def _inputs(folder, n=3):
    ds = open_dataset(A, max_size=n)
    imgs = np.stack([ds[i][0] for i in range(n)])
    for i, img in enumerate(imgs):
        save_image(img, folder / f"in{i}.png")
    return imgs


def test_train_prints_where_things_are(run, capsys):
    snap = sorted(run.glob("snapshot-*"))[-1]
    assert (snap / "G_AB" / "config.json").exists() and (snap / "samples.png").exists()
    with Image.open(snap / "samples.png") as im:
        assert im.size == (6 * 32, 8 * 32)  # 6 columns: A, A->B, A->B->A, B, B->A, B->A->B


def test_translate_round_trip(run, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    imgs = _inputs(src)
    ab, aba = tmp_path / "ab", tmp_path / "aba"
    assert (
        main(
            ["translate", "--network", str(run), "--direction", "a2b"]
            + ["--input", str(src), "--outdir", str(ab)]
        )
        == 0
    )
    assert (
        main(
            ["translate", "--network", str(run), "--direction", "b2a"]
            + ["--input", str(ab / "in1.png"), "--outdir", str(aba)]
        )
        == 0
    )
    G_AB, G_BA = load_translator(run, "a2b"), load_translator(run, "b2a")
    want_ab = translate_images(G_AB, imgs)
    for i in range(3):
        got = np.asarray(Image.open(ab / f"in{i}.png"))
        assert np.array_equal(got, want_ab[i, 0].numpy())
    got = np.asarray(Image.open(aba / "in1.png"))
    assert np.array_equal(got, translate_images(G_BA, want_ab[1:2])[0, 0].numpy())
    # The saved generator is the trained one: same as applying the training-state weights.
    snap = sorted(run.glob("snapshot-*"))[-1]
    state = torch.load(snap / "training_state.pt", weights_only=True)
    ref = type(G_AB)(G_AB.config)
    ref.load_state_dict(state["G_AB"])
    with torch.no_grad():
        x = torch.from_numpy(imgs).float() / 127.5 - 1
        assert torch.equal(G_AB(x), ref.eval()(x))


def test_eval_cli_and_fid_wiring(run, capsys):
    assert main(["cyclegan", "eval", "--network", str(run), "--no-fid", "--num", "8"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["data_a"] == A and scores["num_a"] == 8
    assert 0 < scores["psnr_cycle_a"] < 100 and -1 <= scores["ssim_cycle_b"] <= 1

    def detector(images):  # a stand-in feature extractor: 6 pixel features
        return torch.as_tensor(images).float().flatten(1)[:, 400:406]

    got = evaluate(run, A, B, num=8, fid=True, detector=detector)
    G_AB = load_translator(run, "a2b")
    ds_a, ds_b = open_dataset(A), open_dataset(B)
    idx_a = np.sort(np.random.default_rng(0).permutation(len(ds_a))[:8])
    idx_b = np.sort(np.random.default_rng(0).permutation(len(ds_b))[:8])
    fake_b = translate_images(G_AB, np.stack([ds_a[int(i)][0] for i in idx_a]))
    real_b = np.stack([ds_b[int(i)][0] for i in idx_b])
    f1, f2 = detector(fake_b).double().numpy(), detector(real_b).double().numpy()
    want = frechet_distance(
        f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    )
    assert got["fid_a2b"] == pytest.approx(want, rel=1e-6)
    f3 = detector(np.stack([ds_a[int(i)][0] for i in idx_a])).double().numpy()
    base = frechet_distance(
        f3.mean(0), np.cov(f3, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    )
    assert got["fid_a_vs_b"] == pytest.approx(base, rel=1e-6)


def test_bad_input_one_line_exit_2(run, stylegan_net, tmp_path, capsys):
    base = ["cyclegan", "train", "--preset", "tiny", "--outdir", str(tmp_path / "r")]
    assert main(base + ["--data-a", str(tmp_path / "missing"), "--data-b", B]) == 2
    _one_line_error(capsys, "--data-a", "missing")
    (tmp_path / "empty").mkdir()
    assert main(base + ["--data-a", A, "--data-b", str(tmp_path / "empty")]) == 2
    _one_line_error(capsys, "--data-b", "no images")
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    for i in range(2):
        Image.new("RGB", (32, 32), (i, 9, 9)).save(rgb / f"{i}.png")
    assert main(base + ["--data-a", A, "--data-b", str(rgb)]) == 2
    _one_line_error(capsys, "has 3", "stylegen dataset --source", "--channels 1")
    assert main(base + ["--data-a", A]) == 2
    _one_line_error(capsys, "--data-a and --data-b are required")
    assert main(base + ["--data-a", A, "--data-b", B, "--minutes", "0"]) == 2
    _one_line_error(capsys, "--minutes 0.0 must be > 0")
    assert main(["cyclegan", "train", "--resume", str(run), "--minutes", "-2"]) == 2
    _one_line_error(capsys, "--minutes -2.0 must be > 0")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())

    tr = ["--direction", "a2b", "--input", str(rgb), "--outdir", str(tmp_path / "o")]
    assert main(["translate", "--network", str(stylegan_net)] + tr) == 2
    _one_line_error(capsys, "stylegan2.Generator", "stylegen generate")
    sg_run = tmp_path / "sgrun"
    Generator(build_configs("tiny", img_resolution=8)[0]).save(sg_run / "snapshot-000001")
    assert main(["translate", "--network", str(sg_run)] + tr) == 2
    _one_line_error(capsys, "StyleGAN run")
    g_ab = sorted(run.glob("snapshot-*"))[-1] / "G_AB"
    assert main(["translate", "--network", str(g_ab), "--direction", "b2a"] + tr[2:]) == 2
    _one_line_error(capsys, "translates a2b")
    assert (
        main(
            [
                "translate",
                "--network",
                str(run),
                "--direction",
                "a2b",
                "--input",
                str(tmp_path / "nope.png"),
                "--outdir",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    _one_line_error(capsys, "--input", "does not exist")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())

    for net in (run, g_ab, g_ab.parent):
        assert main(["generate", "--network", str(net), "--outdir", str(tmp_path / "g")]) == 2
        _one_line_error(capsys, "CycleGAN checkpoint", "stylegen translate")
    assert main(["cyclegan", "train", "--resume", str(sg_run)]) == 2
    _one_line_error(capsys, "not a run folder")


def test_dataset_channels_flag_converts(tmp_path, capsys):
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    for i in range(2):
        Image.new("RGB", (32, 32), (200, 10 * i, 0)).save(rgb / f"{i}.png")
    dest = tmp_path / "grey.zip"
    args = ["dataset", "--source", str(rgb), "--dest", str(dest), "--resolution", "32"]
    assert main(args + ["--channels", "1"]) == 0
    assert open_dataset(dest).num_channels == 1


def test_cli_resume_extends_the_schedule(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    before = sorted(p.name for p in copy.glob("snapshot-*"))
    # options the resumed run would not use are refused in one line, not dropped
    for flag, value in (("--lr", "0.1"), ("--data-a", B), ("--no-flip", None)):
        extra = [flag] if value is None else [flag, value]
        assert main(["cyclegan", "train", "--resume", str(copy), *extra, "--epochs", "2"]) == 2
        _one_line_error(capsys, f"{flag} cannot change on --resume", "--resume takes --epochs")
    assert sorted(p.name for p in copy.glob("snapshot-*")) == before
    assert main(["cyclegan", "train", "--resume", str(copy), "--epochs", "2"]) == 0
    after = sorted(p.name for p in copy.glob("snapshot-*"))
    assert len(after) > len(before) and after[-1] > before[-1]
    assert f"checkpoint: {copy / after[-1]}" in capsys.readouterr().out


def test_stylegan_train_resume_points_to_the_cyclegan_command(run, capsys):
    assert main(["train", "--resume", str(run)]) == 2
    _one_line_error(capsys, "is a CycleGAN run", "stylegen cyclegan train --resume")


def test_load_of_a_cyclegan_run_names_a_generator_to_load(run):
    import stylegen
    from stylegen.errors import UserError

    snap = sorted(run.glob("snapshot-*"))[-1]
    with pytest.raises(UserError, match=r"CycleGAN run or snapshot .*G_AB"):
        stylegen.load(run)
    with pytest.raises(UserError, match=r"CycleGAN run or snapshot .*G_AB"):
        stylegen.load(snap)
    assert stylegen.load(snap / "G_AB").config.direction == "a2b"


def test_train_summary_counts_the_images_it_scored(tmp_path, capsys):
    for name, n in (("a", 4), ("b", 6)):  # fewer images than the summary's 256
        (tmp_path / name).mkdir()
        _inputs(tmp_path / name, n)
    args = ["cyclegan", "train", "--data-a", str(tmp_path / "a"), "--data-b", str(tmp_path / "b")]
    args += ["--preset", "tiny", "--epochs", "1", "--decay-epochs", "0", "--threads", "1"]
    assert main([*args, "--outdir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "cycle PSNR/SSIM (4 A / 6 B images): psnr_cycle_a" in out, out
