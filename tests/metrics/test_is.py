"""Inception Score: maths against plain references, the is<N>k metric, weights without logits."""

import numpy as np
import pytest
import torch
from scipy.special import rel_entr
from scipy.special import softmax as scipy_softmax

from stylegen.errors import UserError
from stylegen.metrics.compute import calc_metric
from stylegen.metrics.features import InceptionFeatures, file_sha1, load_detector
from stylegen.metrics.inception import FIDInceptionV3
from stylegen.metrics.is_ import inception_score, softmax

from .conftest import FakeDataset, TinyNet, jit_script, random_images


def reference_is(probs, splits=10):
    """Plain loop: per split, exp of the mean KL(p(y|x) || p(y)) (scipy's rel_entr)."""
    n = len(probs)
    scores = []
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(axis=0)
        kls = [rel_entr(row, marginal).sum() for row in part]
        scores.append(np.exp(np.mean(kls)))
    return np.mean(scores), np.std(scores)


def test_inception_score_matches_reference():
    logits = np.random.default_rng(0).normal(scale=3, size=(105, 1008))
    probs = scipy_softmax(logits, axis=1)
    np.testing.assert_allclose(softmax(logits), probs, rtol=1e-12)
    mean, std = inception_score(probs)
    ref_mean, ref_std = reference_is(probs)
    assert mean == pytest.approx(ref_mean, rel=1e-12) and std == pytest.approx(ref_std, rel=1e-9)
    assert mean > 1.0


def test_inception_score_hand_computed():
    # Every image sure of its own class, 4 classes per split: each split scores exp(log 4) = 4.
    probs = np.eye(4)[np.arange(40) % 4]
    assert inception_score(probs) == pytest.approx((4.0, 0.0))
    # All images give the same distribution: no information, IS = 1.
    same = np.full((20, 5), 0.2)
    assert inception_score(same) == pytest.approx((1.0, 0.0))
    with pytest.raises(ValueError, match="at least 10"):
        inception_score(same[:9])


class TinyNetWithFC(TinyNet):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16, 7)


def test_is_metric_uses_unbiased_logits_of_pool_features():
    module = TinyNetWithFC()
    det = InceptionFeatures(module, sha1="fc", source="test", resolution=16, has_logits=True)
    images = random_images(30, res=16, seed=3)
    data = FakeDataset(images)

    def sampler(count, start):
        return torch.from_numpy(images[start : start + count])

    result = calc_metric("is1k", sampler=sampler, detector=det, num=30, dataset=data)
    feats = det(images).double().numpy()
    probs = scipy_softmax(feats @ module.fc.weight.detach().double().numpy().T, axis=1)
    ref_mean, ref_std = reference_is(probs)
    assert result["results"]["is1k_mean"] == pytest.approx(ref_mean, rel=1e-6)
    assert result["results"]["is1k_std"] == pytest.approx(ref_std, rel=1e-5, abs=1e-9)
    assert result["num_gen"] == 30 and result["num_real"] is None and result["value"] is None


def test_detectors_without_the_classifier_are_refused(tmp_path):
    no_fc = InceptionFeatures(jit_script(TinyNet()), sha1="x", source="default_1.pt")
    images = random_images(12)

    def sampler(count, start):
        return torch.from_numpy(images[:count])

    with pytest.raises(UserError, match="needs the 1008-way classifier, which default_1.pt lacks"):
        calc_metric("is50k", sampler=sampler, detector=no_fc, num=12)
    # A pytorch-fid / torch-fidelity style state dict carries the classifier.
    path = tmp_path / "weights.pth"
    torch.save(FIDInceptionV3().state_dict(), path)
    det = load_detector(path, trusted_sha1=file_sha1(path))
    assert det.has_logits and det.logit_weight().shape == (1008, 2048)
