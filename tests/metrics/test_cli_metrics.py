"""`stylegen metrics` end to end on a tiny network, a tiny image folder and a tiny detector."""

import json

import numpy as np
import pytest
from PIL import Image

from stylegen import checkpoint
from stylegen.commands import main
from stylegen.metrics.features import file_sha1
from stylegen.models import Generator
from stylegen.models.stylegan2 import GeneratorConfig

from .conftest import TinyNet, jit_save

TINY_G = dict(z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)


def save_network(path, c_dim=0, res=16):
    G = Generator(GeneratorConfig(img_resolution=res, img_channels=3, c_dim=c_dim, **TINY_G))
    return checkpoint.save(G, path, metadata={"kimg": 1.5})


def image_folder(path, n=20, res=16, labels=False):
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (res, res, 3), dtype=np.uint8)).save(path / f"{i}.png")
    if labels:
        doc = {"labels": [[f"{i}.png", i % 2] for i in range(n)]}
        (path / "dataset.json").write_text(json.dumps(doc))
    return path


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGEN_CACHE", str(tmp_path / "cache"))
    detector = tmp_path / "tiny_detector.pt"
    jit_save(TinyNet(), detector)
    det_args = ["--detector", str(detector), "--detector-sha1", file_sha1(detector)]
    return tmp_path, det_args


def run(args, capsys):
    code = main(["metrics", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_and_jsonl_beside_a_checkpoint(setup, capsys):
    tmp, det = setup
    net = save_network(tmp / "nets" / "tiny")
    data = image_folder(tmp / "data")
    args = ["--network", str(net), "--data", str(data), "--num", "12", *det]
    code, out, err = run([*args, "--metrics", "fid1k_full,kid1k_full,pr1k3_full"], capsys)
    assert code == 0, err
    assert "N gen" in out and "pr1k3_full_recall" in out
    lines = [json.loads(x) for x in (tmp / "nets" / "metrics.jsonl").read_text().splitlines()]
    assert [r["metric"] for r in lines] == ["fid1k_full", "kid1k_full", "pr1k3_full"]
    fid = lines[0]
    assert fid["num_gen"] == 12 and fid["num_real"] == 20 and fid["value"] > 0
    assert fid["kimg"] == 1.5 and fid["source"] == "cli" and fid["snapshot"] == "tiny"
    # A second evaluation appends; same seeds and data give the same number.
    assert run([*args, "--metrics", "fid1k_full"], capsys)[0] == 0
    again = (tmp / "nets" / "metrics.jsonl").read_text().splitlines()
    assert len(again) == 4 and json.loads(again[-1])["value"] == pytest.approx(fid["value"])


def test_jsonl_goes_to_the_run_folder(setup, capsys):
    tmp, det = setup
    run_dir = tmp / "runs" / "00000-data-tiny"
    save_network(run_dir / "snapshot-000001")
    (run_dir / "training_options.json").write_text("{}")
    data = image_folder(tmp / "data")
    for network in (run_dir, run_dir / "snapshot-000001"):
        args = ["--network", str(network), "--data", str(data), "--num", "4", *det]
        assert run([*args, "--metrics", "fid1k_full"], capsys)[0] == 0
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_bad_input_is_one_line_and_exit_2(setup, capsys):
    tmp, det = setup
    net = save_network(tmp / "net")
    data = image_folder(tmp / "data")
    small = image_folder(tmp / "small", n=4, res=8)
    labelled = image_folder(tmp / "labelled", labels=True)
    cond = save_network(tmp / "cond", c_dim=2)
    base = ["--network", str(net), "--data", str(data)]
    cases = [
        ([*base, "--metrics", "fid50k_full,fud5k"], "unknown metric 'fud5k'; valid forms: fid"),
        ([*base, "--metrics", "fid50k_full", "--num", "21", *det], "--num 21 is larger than"),
        ([*base, "--detector", str(tmp / "nope.pt")], "nope.pt does not exist"),
        (
            [*base, "--detector", det[1], "--detector-sha1", "0" * 40],
            "expected 0000000000000000000000000000000000000000",
        ),
        ([*base, "--detector", det[1]], "is not a known FID Inception file"),
        (["--network", str(net), "--data", str(small), *det], "dataset has 8x8 images but"),
        (["--network", str(cond), "--data", str(data), *det], "conditional (2 classes) but"),
        ([*base, "--metrics", "is1k", *det], "needs the 1008-way classifier"),
        (["--network", str(net), "--metrics", "fid1k_full", *det], "pass --data"),
        (["--network", str(tmp / "missing"), "--data", str(data)], "does not exist"),
    ]
    for args, message in cases:
        code, out, err = run(args, capsys)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
    assert not (tmp / "metrics.jsonl").exists()
    # The conditional network works with the labelled dataset.
    args = ["--network", str(cond), "--data", str(labelled), "--num", "4", *det]
    assert run(args, capsys)[0] == 0


def test_max_real_makes_a_quick_look(setup, capsys):
    tmp, det = setup
    net = save_network(tmp / "nets" / "tiny")
    data = image_folder(tmp / "data")
    args = ["--network", str(net), "--data", str(data), "--num", "6", *det]
    code, _, err = run([*args, "--metrics", "fid1k_full", "--max-real", "8"], capsys)
    assert code == 0, err
    fid = json.loads((tmp / "nets" / "metrics.jsonl").read_text().splitlines()[-1])
    assert fid["num_gen"] == 6 and fid["num_real"] == 8  # of the folder's 20
    code, _, err = run([*args, "--max-real", "1"], capsys)
    assert code == 2 and "--max-real 1 is too small" in err and "Traceback" not in err
