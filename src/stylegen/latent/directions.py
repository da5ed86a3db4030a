"""Editing directions in W, found without labels or from a conditional network's classes.

* SeFa (Shen & Zhou 2021, "Closed-Form Factorization of Latent Semantics in GANs"): a style
  affine maps w to A w + b, so moving w along n changes the styles by A n; the directions that
  change them most are the unit n maximising ||A n||^2, i.e. the eigenvectors of A^T A with the
  largest eigenvalues. A stacks the affine weights of the chosen layers' convolutions (ToRGB
  left out), each row (one style channel) scaled to unit length, as in the authors' code.
  Closed form, no sampling.
* GANSpace (Härkönen, Hertzmann, Lehtinen & Paris 2020, "GANSpace: Discovering Interpretable GAN
  Controls"): principal components of sampled w (the eigenvectors of their covariance), with the
  standard deviation along each as its value; the paper then edits chosen layers only.
* Class directions (conditional networks): the mean w of class k (over the same z for every
  class) minus the mean over all classes, so the difference of two rows moves from one class
  mean to the other.

Vectors are [K, w_dim], strongest first; SeFa and GANSpace vectors are orthonormal with a fixed
sign (largest component positive). A directions file is safetensors with `directions`, `values`,
optionally `mean` (GANSpace), and metadata format "stylegen-directions", method, layers, w_dim,
network, labels.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from stylegen.errors import UserError
from stylegen.fileio import atomic_file
from stylegen.generate import class_labels
from stylegen.latent.layers import parse_styles, style_affines

__all__ = [
    "DIRECTIONS_FORMAT",
    "METHODS",
    "Directions",
    "class_directions",
    "ganspace",
    "load_directions",
    "pick_direction",
    "save_directions",
    "sefa",
    "sefa_matrix",
]

log = logging.getLogger(__name__)

DIRECTIONS_FORMAT = "stylegen-directions"
METHODS = ("sefa", "ganspace", "class")


@dataclass
class Directions:
    vectors: torch.Tensor  # [K, w_dim]
    values: torch.Tensor  # [K]: eigenvalue (sefa), standard deviation (ganspace), norm (class)
    method: str
    layers: list[int]  # ws indices the method looked at
    network: str = ""
    labels: list[str] = field(default_factory=list)
    mean: torch.Tensor | None = None  # GANSpace: the mean w


def _fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row so that its largest-magnitude component is positive (eigenvectors have no
    sign of their own; this makes files reproducible)."""
    idx = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors[torch.arange(len(vectors)), idx])
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs).unsqueeze(1)


def sefa_matrix(G: nn.Module, layers: list[int] | None = None) -> torch.Tensor:
    """A^T A (float64 [w_dim, w_dim]) for the convolutions' style affines at ws indices `layers`
    (all when None), A's rows scaled to unit length."""
    layers = list(range(G.num_ws)) if layers is None else layers
    rows = [a.module.weight for a in style_affines(G) if not a.is_torgb and a.ws_index in layers]
    if not rows:
        raise UserError(f"no style convolutions at ws indices {layers}; pick other --layers")
    A = torch.cat([r.detach().double().cpu() for r in rows])
    A = A / A.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return A.t() @ A


def sefa(G: nn.Module, layers: list[int] | str | None = None, network: str = "") -> Directions:
    """SeFa directions for the style layers `layers` (ws indices or e.g. 'coarse'; default all)."""
    idx = list(range(G.num_ws)) if layers is None else parse_styles(layers, G, "--layers")
    values, vectors = torch.linalg.eigh(sefa_matrix(G, idx))
    order = torch.argsort(values, descending=True)
    vecs = _fix_signs(vectors[:, order].t().contiguous())
    log.info("SeFa: %d directions from ws %s", len(vecs), idx)
    return Directions(
        vecs.to(torch.float32),
        values[order].to(torch.float32),
        "sefa",
        idx,
        network,
        [f"sefa {i}" for i in range(len(vecs))],
    )


def _sample_w(
    G: nn.Module,
    num: int,
    class_idx: int | None,
    seed: int,
    device: str | torch.device,
    batch: int = 4096,
) -> torch.Tensor:
    """[num, w_dim] w of z ~ N(0, I) from RandomState(seed); uniform classes when conditional
    and no class is given."""
    rng = np.random.RandomState(seed)
    z = torch.from_numpy(rng.randn(num, G.z_dim)).to(torch.float32)
    if G.c_dim and class_idx is None:
        c = torch.nn.functional.one_hot(torch.from_numpy(rng.randint(G.c_dim, size=num)), G.c_dim)
        c = c.to(torch.float32)
    else:
        c = class_labels(G, class_idx, num)
    out = []
    with torch.no_grad():
        for s in range(0, num, batch):
            cc = c[s : s + batch].to(device) if c is not None else None
            out.append(G.mapping(z[s : s + batch].to(device), cc)[:, 0].double().cpu())
    return torch.cat(out)


def ganspace(
    G: nn.Module,
    num_samples: int = 20000,
    num_components: int | None = None,
    class_idx: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    network: str = "",
) -> Directions:
    """GANSpace: the principal components of `num_samples` sampled w (strongest first)."""
    if num_samples < 2:
        raise UserError(f"--samples {num_samples} must be >= 2")
    k = G.w_dim if num_components is None else num_components
    if not 1 <= k <= G.w_dim:
        raise UserError(f"--components {k} must lie in 1-{G.w_dim} (w_dim)")
    w = _sample_w(G, num_samples, class_idx, seed, device)
    mean = w.mean(0)
    cov = (w - mean).t() @ (w - mean) / (num_samples - 1)
    values, vectors = torch.linalg.eigh(cov)
    order = torch.argsort(values, descending=True)[:k]
    vecs = _fix_signs(vectors[:, order].t().contiguous())
    log.info("GANSpace: %d components from %d samples", k, num_samples)
    return Directions(
        vecs.to(torch.float32),
        values[order].clamp(min=0).sqrt().to(torch.float32),
        "ganspace",
        list(range(G.num_ws)),
        network,
        [f"pc {i}" for i in range(k)],
        mean.to(torch.float32),
    )


def class_directions(
    G: nn.Module,
    num_samples: int = 2000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    network: str = "",
) -> Directions:
    """Per class k: mean w of class k minus the mean over classes (the same z for every class)."""
    if not G.c_dim:
        raise UserError("class directions need a conditional network; this one has no classes")
    means = torch.stack(
        [_sample_w(G, num_samples, k, seed, device).mean(0) for k in range(G.c_dim)]
    )
    vecs = (means - means.mean(0)).to(torch.float32)
    log.info("class directions: %d classes, %d samples each", G.c_dim, num_samples)
    return Directions(
        vecs,
        vecs.norm(dim=1),
        "class",
        list(range(G.num_ws)),
        network,
        [f"class {k} - mean" for k in range(G.c_dim)],
    )


def pick_direction(d: Directions, index: int, minus: int | None = None) -> torch.Tensor:
    """Row `index` of the file; for class directions `minus=a` gives class index - class a."""
    k = len(d.vectors)
    for what, i in (("--index", index), ("--from-class", minus)):
        if i is not None and not 0 <= i < k:
            raise UserError(f"{what} {i} is out of range; the file holds directions 0-{k - 1}")
    if minus is not None and d.method != "class":
        raise UserError(f"--from-class needs class directions; this file holds {d.method}")
    vec = d.vectors[index]
    return vec - d.vectors[minus] if minus is not None else vec


def save_directions(path: str | os.PathLike, d: Directions) -> Path:
    """Write a directions file atomically."""
    tensors = {
        "directions": d.vectors.detach().to(torch.float32).contiguous(),
        "values": d.values.detach().to(torch.float32).contiguous(),
    }
    if d.mean is not None:
        tensors["mean"] = d.mean.detach().to(torch.float32).contiguous()
    metadata = {
        "format": DIRECTIONS_FORMAT,
        "format_version": "1",
        "method": d.method,
        "layers": json.dumps(d.layers),
        "w_dim": str(d.vectors.shape[1]),
        "network": d.network,
        "labels": json.dumps(d.labels),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def load_directions(path: str | os.PathLike, G: nn.Module | None = None) -> Directions:
    """Read a directions file; with G, check that its vectors live in G's W (w_dim)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"directions file {path} does not exist; make one with `stylegen directions`"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"directions file {path} is not readable safetensors ({exc})") from None
    if meta.get("format") != DIRECTIONS_FORMAT or "directions" not in tensors:
        raise UserError(f"{path} is not a directions file; make one with `stylegen directions`")
    vectors = tensors["directions"]
    if G is not None and (vectors.ndim != 2 or vectors.shape[1] != G.w_dim):
        raise UserError(
            f"directions file {path} holds vectors of shape {list(vectors.shape)} but this "
            f"network's w has {G.w_dim} dimensions: it was made for another network"
        )
    return Directions(
        vectors,
        tensors.get("values", torch.zeros(len(vectors))),
        meta.get("method", ""),
        json.loads(meta.get("layers") or "[]"),
        meta.get("network", ""),
        json.loads(meta.get("labels") or "[]"),
        tensors.get("mean"),
    )
