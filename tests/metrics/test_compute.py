"""Metric driver: names, feature statistics, the on-disk cache and calc_metric(s)."""

import logging

import numpy as np
import pytest
import torch

from stylegen.errors import UserError
from stylegen.metrics.compute import (
    MetricSpec,
    calc_metric,
    calc_metrics,
    compute_features_for_dataset,
    compute_features_for_generator,
    parse_metric_name,
)
from stylegen.metrics.features import InceptionFeatures
from stylegen.metrics.fid import feature_statistics
from stylegen.metrics.stats_cache import FeatureStats

from .conftest import CountingDetector, FakeDataset, TinyNet, jit_script, random_images


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("fid50k_full", MetricSpec("fid50k_full", "fid", 50_000)),
        ("fid2k_full", MetricSpec("fid2k_full", "fid", 2_000)),
        ("kid10k_full", MetricSpec("kid10k_full", "kid", 10_000)),
        ("pr50k3_full", MetricSpec("pr50k3_full", "pr", 50_000, 3)),
    ],
)
def test_parse_metric_name(name, spec):
    assert parse_metric_name(name) == spec


@pytest.mark.parametrize(
    "name",
    ["fid", "fid50k", "is50", "pr50k_full", "FID50k_full", "ppl_xfull", "eqt50k_half", "eqr50"],
)
def test_unknown_metric_names(name):
    with pytest.raises(UserError, match=r"unknown metric .*valid forms: fid<N>k_full"):
        parse_metric_name(name)


def test_zero_counts_are_rejected():
    with pytest.raises(UserError, match="must be >= 1k"):
        parse_metric_name("fid0k_full")
    with pytest.raises(UserError, match="neighbourhood size must be >= 1"):
        parse_metric_name("pr1k0_full")


def test_streaming_stats_match_batch_statistics():
    x = np.random.default_rng(0).normal(size=(37, 6)) * 3 + 5
    stats = FeatureStats(capture_all=True)
    for start in range(0, 37, 5):
        stats.append(x[start : start + 5])
    mu, sigma = stats.mean_cov()
    ref_mu, ref_sigma = feature_statistics(x)
    np.testing.assert_allclose(mu, ref_mu, rtol=1e-12)
    np.testing.assert_allclose(sigma, ref_sigma, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats.all_features(), x.astype(np.float32))
    again = FeatureStats.from_arrays(stats.to_arrays())
    assert again.num_items == 37
    np.testing.assert_array_equal(again.mean_cov()[1], sigma)


def test_dataset_cache_hit_and_miss(tmp_path, fake_dataset, tiny_detector):
    first = compute_features_for_dataset(
        fake_dataset, tiny_detector, batch_size=10, cache_dir=tmp_path
    )
    assert tiny_detector.calls == 24 and len(list(tmp_path.glob("*.npz"))) == 1
    hit = compute_features_for_dataset(
        fake_dataset, tiny_detector, batch_size=7, cache_dir=tmp_path
    )
    assert tiny_detector.calls == 24
    for a, b in zip(first.mean_cov(), hit.mean_cov()):
        np.testing.assert_array_equal(a, b)
    # One changed pixel in a sampled image is another dataset.
    changed = FakeDataset(fake_dataset.images.copy())
    changed.images[0, 0, 0, 0] ^= 1
    compute_features_for_dataset(changed, tiny_detector, batch_size=10, cache_dir=tmp_path)
    assert tiny_detector.calls == 48
    # So is another detector or another item count.
    other = CountingDetector(jit_script(TinyNet()), sha1="tiny1", source="test")
    compute_features_for_dataset(fake_dataset, other, cache_dir=tmp_path)
    compute_features_for_dataset(fake_dataset, other, max_items=10, cache_dir=tmp_path)
    assert other.calls == 24 + 10
    assert len(list(tmp_path.glob("*.npz"))) == 4


def test_capture_all_cache_serves_mean_cov_requests(tmp_path, fake_dataset, tiny_detector):
    full = compute_features_for_dataset(
        fake_dataset, tiny_detector, cache_dir=tmp_path, capture_all=True
    )
    assert full.all_features().shape == (24, 16)
    light = compute_features_for_dataset(fake_dataset, tiny_detector, cache_dir=tmp_path)
    assert tiny_detector.calls == 24
    np.testing.assert_array_equal(light.mean_cov()[0], full.mean_cov()[0])


def test_max_items_takes_a_fixed_subset(tmp_path, fake_dataset, tiny_detector):
    a = compute_features_for_dataset(fake_dataset, tiny_detector, max_items=9, use_cache=False)
    b = compute_features_for_dataset(fake_dataset, tiny_detector, max_items=9, use_cache=False)
    assert a.num_items == 9
    np.testing.assert_array_equal(a.mean_cov()[0], b.mean_cov()[0])


def dataset_sampler(dataset):
    """A 'generator' that replays the dataset's images, seeded by start index."""
    calls = []

    def sample(batch_size, start):
        calls.append((batch_size, start))
        idx = [(start + i) % len(dataset) for i in range(batch_size)]
        return torch.from_numpy(np.stack([dataset[i][0] for i in idx]))

    sample.calls = calls
    return sample


def test_generator_features_do_not_depend_on_batch_size(fake_dataset, tiny_detector):
    sampler = dataset_sampler(fake_dataset)
    a = compute_features_for_generator(sampler, 11, 3, tiny_detector, capture_all=True)
    b = compute_features_for_generator(sampler, 11, 5, tiny_detector, capture_all=True)
    assert a.num_items == b.num_items == 11
    np.testing.assert_allclose(a.all_features(), b.all_features(), rtol=1e-5, atol=1e-5)


def test_fid_of_the_dataset_against_itself(tmp_path, fake_dataset, tiny_detector, caplog):
    sampler = dataset_sampler(fake_dataset)
    with caplog.at_level(logging.WARNING):
        result = calc_metric(
            "fid2k_full",
            dataset=fake_dataset,
            sampler=sampler,
            detector=tiny_detector,
            num=24,
            cache_dir=tmp_path,
        )
    assert result["metric"] == "fid2k_full" and result["num_gen"] == 24 and result["num_real"] == 24
    assert result["value"] == pytest.approx(0.0, abs=1e-6)
    assert result["results"] == {"fid2k_full": result["value"]}
    assert result["time_s"] > 0 and result["detector_sha1"] == "tiny0"
    assert "only 24 generated / 24 real images" in caplog.text and "biased upwards" in caplog.text


def test_different_images_give_positive_fid(tmp_path, fake_dataset, tiny_detector):
    other = FakeDataset(random_images(24, seed=9) // 2)
    result = calc_metric(
        "fid1k_full",
        dataset=fake_dataset,
        sampler=dataset_sampler(other),
        detector=tiny_detector,
        num=20,
        cache_dir=tmp_path,
    )
    assert result["value"] > 1.0


def test_metrics_share_generated_features(tmp_path, fake_dataset, tiny_detector):
    sampler = dataset_sampler(FakeDataset(random_images(24, seed=5)))
    results = calc_metrics(
        ["fid1k_full", "kid1k_full", "pr1k3_full"],
        dataset=fake_dataset,
        sampler=sampler,
        detector=tiny_detector,
        num=16,
        batch_size=8,
        cache_dir=tmp_path,
    )
    # One probe image, then 16 generated images once for all three metrics.
    assert sum(n for n, _ in sampler.calls) == 1 + 16
    assert tiny_detector.calls == 24 + 16
    assert [r["metric"] for r in results] == ["fid1k_full", "kid1k_full", "pr1k3_full"]
    pr = results[2]
    assert pr["value"] is None and set(pr["results"]) == {
        "pr1k3_full_precision",
        "pr1k3_full_recall",
    }
    assert all(0.0 <= v <= 1.0 for v in pr["results"].values())
    assert all(r["num_gen"] == 16 and r["num_real"] == 24 for r in results)


def test_bad_requests_raise_user_error(tmp_path, fake_dataset, tiny_detector):
    sampler = dataset_sampler(fake_dataset)
    kwargs = dict(dataset=fake_dataset, detector=tiny_detector, cache_dir=tmp_path)
    with pytest.raises(UserError, match="--num 25 is larger than the dataset \\(24 images\\)"):
        calc_metric("fid50k_full", sampler=sampler, num=25, **kwargs)
    with pytest.raises(UserError, match="unknown metric 'fid_50k'"):
        calc_metrics(["fid50k_full", "fid_50k"], sampler=sampler, **kwargs)
    small = dataset_sampler(FakeDataset(random_images(4, res=8)))
    with pytest.raises(UserError, match="generator makes 3x8x8 images but the dataset has 3x16x16"):
        calc_metric("fid50k_full", sampler=small, num=4, **kwargs)
    assert tiny_detector.calls == 0


def test_detector_is_a_plain_callable_wrapper(fake_dataset):
    det = InceptionFeatures(jit_script(TinyNet()), sha1="x", source="test")
    out = det(fake_dataset.images[:2])
    assert out.dtype == torch.float32 and out.shape == (2, 16) and det.feature_dim == 16


def test_max_real_caps_the_real_images_of_every_metric(tmp_path, fake_dataset, tiny_detector):
    sampler = dataset_sampler(FakeDataset(random_images(24, seed=5)))
    kwargs = dict(dataset=fake_dataset, sampler=sampler, detector=tiny_detector, num=16)
    results = calc_metrics(
        ["fid1k_full", "kid1k_full", "pr1k3_full"], max_real=10, cache_dir=tmp_path, **kwargs
    )
    assert all(r["num_real"] == 10 for r in results)  # 24 without the cap (test above)
    # the same fixed subset every time, so the number repeats
    again = calc_metrics(["fid1k_full"], max_real=10, cache_dir=tmp_path / "other", **kwargs)
    assert again[0]["value"] == pytest.approx(results[0]["value"])
    with pytest.raises(UserError, match="--max-real 1 is too small; metrics need at least 2"):
        calc_metrics(["fid1k_full"], max_real=1, cache_dir=tmp_path, **kwargs)
