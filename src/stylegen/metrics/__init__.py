"""Offline evaluation metrics: FID (Heusel et al. 2017), KID (Bińkowski et al. 2018) and improved
precision/recall (Kynkäänniemi et al. 2019) on FID Inception-v3 features.

features.py  the FID Inception network, loaded offline, and its input protocol
fid.py       Fréchet distance in float64 (eigen / singular values, no scipy)
kid.py       unbiased KID with subsets
pr.py        k-NN manifold precision/recall
stats_cache.py  running feature statistics and their on-disk cache
compute.py   dataset/generator feature extraction and named metrics (fid50k_full, ...)
"""

from stylegen.metrics.compute import (
    MetricSpec,
    calc_metric,
    calc_metrics,
    compute_features_for_dataset,
    compute_features_for_generator,
    parse_metric_name,
)
from stylegen.metrics.features import InceptionFeatures, load_detector
from stylegen.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from stylegen.metrics.kid import kernel_inception_distance
from stylegen.metrics.pr import precision_recall
from stylegen.metrics.stats_cache import FeatureStats

__all__ = [
    "FeatureStats",
    "InceptionFeatures",
    "MetricSpec",
    "calc_metric",
    "calc_metrics",
    "compute_features_for_dataset",
    "compute_features_for_generator",
    "feature_statistics",
    "fid_from_features",
    "frechet_distance",
    "kernel_inception_distance",
    "load_detector",
    "parse_metric_name",
    "precision_recall",
]
