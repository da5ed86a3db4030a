"""PPL and LPIPS: maths against plain loops, weights files (format, conversion, errors), CLI."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from stylegen import checkpoint
from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.metrics.compute import calc_metric
from stylegen.metrics.lpips import LPIPSVGG16, convert_lpips_weights, load_lpips
from stylegen.metrics.ppl import perceptual_images, ppl_distances, ppl_from_distances, slerp
from stylegen.models import Generator
from stylegen.models.stylegan2 import GeneratorConfig

# VGG-16 topology with narrow layers: numbers are conv widths, "M" a 2x2 max pool, "T" a tap.
NARROW = [4, 4, "T", "M", 6, 6, "T", "M", 5, 5, 5, "T", "M", 7, 7, 7, "T", "M", 3, 3, 3, "T"]
CONV_IDX = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def narrow_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    state, in_ch, conv, tap = {}, 3, 0, 0
    for item in NARROW:
        if item == "T":
            state[f"lin.{tap}.weight"] = torch.rand(1, in_ch, 1, 1, generator=g)
            tap += 1
        elif item != "M":
            state[f"vgg.{CONV_IDX[conv]}.weight"] = torch.randn(item, in_ch, 3, 3, generator=g) / 3
            state[f"vgg.{CONV_IDX[conv]}.bias"] = torch.randn(item, generator=g) / 10
            in_ch, conv = item, conv + 1
    return state


@pytest.fixture
def lpips_file(tmp_path):
    path = tmp_path / "lpips_narrow.safetensors"
    save_file(narrow_state(), str(path))
    return path


def reference_lpips(state, img0, img1):
    """Plain LPIPS v0.1: walk the layer list, normalise taps, weight, average, sum (float64)."""
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)
    xs = [(im.double() / 255 * 2 - 1 - shift) / scale for im in (img0, img1)]
    total = torch.zeros(img0.shape[0], dtype=torch.float64)
    conv = tap = 0
    for item in NARROW:
        if item == "M":
            xs = [F.max_pool2d(x, 2) for x in xs]
        elif item == "T":
            n0, n1 = (x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10) for x in xs)
            w = state[f"lin.{tap}.weight"].double().view(1, -1, 1, 1)
            total += ((n0 - n1) ** 2 * w).sum(1).mean(dim=(1, 2))
            tap += 1
        else:
            k = CONV_IDX[conv]
            w, b = state[f"vgg.{k}.weight"].double(), state[f"vgg.{k}.bias"].double()
            xs = [F.relu(F.conv2d(x, w, b, padding=1)) for x in xs]
            conv += 1
    return total


def test_lpips_matches_plain_reference(lpips_file):
    model = load_lpips(lpips_file)
    assert isinstance(model, LPIPSVGG16)
    g = torch.Generator().manual_seed(1)
    a, b = (torch.rand(3, 3, 16, 16, generator=g) * 255 for _ in range(2))
    ours = model(a, b)
    torch.testing.assert_close(
        ours.double(), reference_lpips(narrow_state(), a, b), rtol=1e-4, atol=1e-7
    )
    assert (ours > 0).all()
    torch.testing.assert_close(model(b, a), ours)
    assert model(a, a).abs().max() == 0


def test_lpips_files_and_errors(tmp_path, lpips_file, monkeypatch):
    monkeypatch.delenv("STYLEGEN_LPIPS", raising=False)
    with pytest.raises(UserError, match="PPL needs LPIPS VGG-16 weights .*--lpips PATH"):
        load_lpips(None)
    monkeypatch.setenv("STYLEGEN_LPIPS", str(lpips_file))
    assert isinstance(load_lpips(None), LPIPSVGG16)
    with pytest.raises(UserError, match="nope.safetensors does not exist"):
        load_lpips(tmp_path / "nope.safetensors")
    garbage = tmp_path / "vgg16.pt"
    garbage.write_bytes(b"not torchscript")
    with pytest.raises(UserError, match="neither stylegen's .safetensors nor a TorchScript"):
        load_lpips(garbage)
    partial = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in narrow_state().items() if k != "lin.4.weight"}, str(partial))
    with pytest.raises(UserError, match="lacks 1 tensor"):
        load_lpips(partial)
    bad = narrow_state()
    bad["lin.2.weight"] = torch.rand(1, 4, 1, 1)
    save_file(bad, str(partial))
    with pytest.raises(UserError, match=r"lin.2 has shape \(1, 4, 1, 1\), expected \(1, 5, 1, 1\)"):
        load_lpips(partial)


def test_conversion_from_torchvision_and_lpips_files(tmp_path):
    state = narrow_state(3)
    vgg = {k.replace("vgg.", "features."): v for k, v in state.items() if k.startswith("vgg.")}
    lin = {f"lin{i}.model.1.weight": state[f"lin.{i}.weight"] for i in range(5)}
    torch.save(vgg, tmp_path / "vgg16.pth")
    torch.save(lin, tmp_path / "vgg_lin.pth")
    out = convert_lpips_weights(
        tmp_path / "vgg16.pth", tmp_path / "vgg_lin.pth", tmp_path / "o.safetensors"
    )
    model = load_lpips(out)
    a, b = torch.rand(2, 3, 16, 16) * 255, torch.rand(2, 3, 16, 16) * 255
    torch.testing.assert_close(model(a, b), LPIPSVGG16(state)(a, b))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(UserError, match="not a torchvision VGG-16 state dict"):
        convert_lpips_weights(tmp_path / "bad.pth", tmp_path / "vgg_lin.pth", tmp_path / "x")


def numpy_slerp(a, b, t):
    """Textbook slerp of the unit directions: sin((1-t)W)/sin(W) a + sin(tW)/sin(W) b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(a @ b, -1, 1))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def test_slerp_and_percentile_mean():
    rng = np.random.default_rng(0)
    a, b, t = rng.normal(size=(5, 8)), rng.normal(size=(5, 8)), rng.random(5)
    ours = slerp(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(t)[:, None]).numpy()
    ref = np.stack([numpy_slerp(a[i], b[i], t[i]) for i in range(5)])
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    # 1..200: the 1st percentile (lower) is 2, the 99th (higher) is 199; mean of 2..199 = 100.5.
    assert ppl_from_distances(np.arange(1, 201)[::-1]) == pytest.approx(100.5)


def tiny_generator(res=16, c_dim=0):
    cfg = GeneratorConfig(
        z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8,
        img_resolution=res, img_channels=1, c_dim=c_dim, use_noise=False,
    )  # fmt: skip
    return Generator(cfg).eval()


@pytest.mark.parametrize(("space", "sampling", "crop"), [("w", "full", False), ("z", "end", True)])
def test_ppl_distances_match_a_plain_loop(lpips_file, space, sampling, crop):
    G, dist = tiny_generator(32 if crop else 16), load_lpips(lpips_file)
    eps, num, batch = 0.05, 5, 3  # a large step keeps float32 rounding far below the tolerance
    ours = ppl_distances(
        G, dist, num, epsilon=eps, space=space, sampling=sampling, crop=crop, batch_size=batch
    )
    ref = []
    with torch.no_grad():
        for j in range(num):
            gen = torch.Generator().manual_seed(j)  # the documented per-sample protocol
            t = float(torch.rand([1], generator=gen)) * (1.0 if sampling == "full" else 0.0)
            z0, z1 = torch.randn([2, 1, 8], generator=gen)
            if space == "w":
                w0, w1 = G.mapping(z0, None), G.mapping(z1, None)
                ws = [w0 + (w1 - w0) * s for s in (t, t + eps)]
            else:
                a, b = z0[0].double().numpy(), z1[0].double().numpy()
                zs = [torch.from_numpy(numpy_slerp(a, b, s)).float()[None] for s in (t, t + eps)]
                ws = [G.mapping(z, None) for z in zs]
            imgs = []
            for w in ws:
                img = (G.synthesis(w, noise_mode="const") + 1) * 127.5
                if crop:  # 32 px: rows 12..27, columns 8..23
                    img = img[:, :, 12:28, 8:24]
                imgs.append(img.repeat(1, 3, 1, 1))
            ref.append(float(reference_lpips(narrow_state(), *imgs)) / eps**2)
    np.testing.assert_allclose(ours, ref, rtol=2e-3)
    assert ours.shape == (num,) and (ours > 0).all()


def test_perceptual_images_crop_downsample_and_scale():
    img = torch.linspace(-1, 1, 2 * 512 * 512).reshape(2, 1, 512, 512)
    out = perceptual_images(img, crop=False)
    assert out.shape == (2, 3, 256, 256)
    torch.testing.assert_close(
        out[:, :, 0, 0], ((img[:, :, :2, :2].mean((2, 3)) + 1) * 127.5).repeat(1, 3)
    )
    assert perceptual_images(img, crop=True).shape == (2, 3, 128, 128)


def test_ppl_metric_and_cli(tmp_path, lpips_file, monkeypatch, capsys):
    G = tiny_generator()
    r = calc_metric("ppl2_wend", G=G, num=4, lpips_path=lpips_file, batch_size=3)
    assert r["num_gen"] == 4 and r["value"] > 0 and r["detector_sha1"] is None
    again = calc_metric("ppl2_wend", G=G, num=4, lpips_path=lpips_file, batch_size=4)
    # Same pairs for any batch size; float32 rounding divided by eps^2 = 1e-8 leaves differences
    # that depend on the CPU's kernels: ~1e-4 on an AVX512 Xeon, 4e-3 on an AVX2 EPYC.
    assert again["value"] == pytest.approx(r["value"], rel=1e-2)
    net = checkpoint.save(G, tmp_path / "net")
    monkeypatch.delenv("STYLEGEN_LPIPS", raising=False)
    args = ["metrics", "--network", str(net), "--metrics", "ppl2_wend", "--num", "3"]
    assert main(args) == 2
    assert "PPL needs LPIPS VGG-16 weights" in capsys.readouterr().err
    assert main([*args, "--lpips", str(lpips_file)]) == 0
    assert "ppl2_wend" in capsys.readouterr().out
    cond = checkpoint.save(tiny_generator(c_dim=3), tmp_path / "cond")
    args = ["metrics", "--network", str(cond), "--metrics", "ppl_zfull", "--lpips", str(lpips_file)]
    assert main(args) == 2
    assert "conditional (3 classes): pass --data for labels" in capsys.readouterr().err
