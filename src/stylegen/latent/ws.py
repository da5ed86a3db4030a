"""Latents as data: seeds -> ws, the ws file format, and rendering saved ws (StyleGAN, Karras et
al. 2019: the intermediate latent space W and its per-layer extension W+).

A ws file is safetensors with

* `ws`: float32 [N, num_ws, w_dim], one row per synthesis input (in space "w" all rows are equal);
* optionally `noise.<layer>.noise_const`: float32 [N, 1, H, W], per-sample noise maps found by
  projection (latent/noise.py), so that rendering the file reproduces the projection exactly;

and string metadata `format` = "stylegen-ws", `format_version`, `space` ("w" or "w+"), `network`
(where the latents came from), `num_ws`, `w_dim`, `info` (JSON). Loading checks the shape against
the generator it is meant for. The official projector's `projected_w.npz` (key `w`) loads too.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from stylegen.errors import UserError
from stylegen.fileio import atomic_file
from stylegen.generate import class_labels, z_from_seeds
from stylegen.images import float_to_uint8
from stylegen.latent.config import SPACES, check_space
from stylegen.latent.noise import noise_inputs, noise_shapes

__all__ = [
    "SPACES",
    "WS_FORMAT",
    "WS_FORMAT_VERSION",
    "Latents",
    "check_space",
    "check_ws",
    "load_ws",
    "render_ws",
    "render_ws_file",
    "save_ws",
    "ws_from_seeds",
]

log = logging.getLogger(__name__)

WS_FORMAT = "stylegen-ws"
WS_FORMAT_VERSION = 1
NOISE_PREFIX = "noise."


def ws_from_seeds(
    G: nn.Module,
    seeds: list[int],
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    class_idx: int | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """ws [len(seeds), num_ws, w_dim] of the seeds (same z as `stylegen generate`)."""
    c = class_labels(G, class_idx, len(seeds))
    z = z_from_seeds(seeds, G.z_dim).to(device)
    with torch.no_grad():
        return G.mapping(
            z,
            c.to(device) if c is not None else None,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
        )


def check_ws(ws: torch.Tensor, G: nn.Module, source: str = "ws") -> None:
    """UserError unless ws is [N, G.num_ws, G.w_dim] with N >= 1."""
    want = f"[N, {G.num_ws}, {G.w_dim}]"
    if not isinstance(ws, torch.Tensor) or ws.ndim != 3:
        shape = tuple(ws.shape) if hasattr(ws, "shape") else type(ws).__name__
        raise UserError(f"{source} holds latents of shape {shape}; this network takes {want}")
    if tuple(ws.shape[1:]) != (G.num_ws, G.w_dim) or ws.shape[0] < 1:
        raise UserError(
            f"{source} holds ws of shape {list(ws.shape)} but this network takes {want}: "
            "the latents were made for another network"
        )


@dataclass
class Latents:
    """A loaded ws file: ws [N, num_ws, w_dim], per-sample noise maps (maybe empty), metadata."""

    ws: torch.Tensor
    space: str = "w+"
    network: str = ""
    noise: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def save_ws(
    path: str | os.PathLike,
    ws: torch.Tensor,
    *,
    space: str,
    network: str = "",
    noise: dict[str, torch.Tensor] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write a ws file atomically (see module docstring)."""
    space = check_space(space)
    if ws.ndim != 3:
        raise ValueError(f"ws must be [N, num_ws, w_dim], got {tuple(ws.shape)}")
    tensors = {"ws": ws.detach().to(torch.float32).cpu().contiguous()}
    for name, value in (noise or {}).items():
        if value.shape[0] != ws.shape[0]:
            raise ValueError(f"noise {name} has {value.shape[0]} samples, ws {ws.shape[0]}")
        tensors[NOISE_PREFIX + name] = value.detach().to(torch.float32).cpu().contiguous()
    metadata = {
        "format": WS_FORMAT,
        "format_version": str(WS_FORMAT_VERSION),
        "space": space,
        "network": str(network),
        "num_ws": str(ws.shape[1]),
        "w_dim": str(ws.shape[2]),
        "info": json.dumps(info or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def _read_npz(path: Path) -> Latents:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "w" not in data:
                raise UserError(f"{path} has no array 'w'; pass a ws file written by stylegen")
            ws = torch.from_numpy(np.asarray(data["w"], dtype=np.float32))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable .npz file ({exc})") from None
    return Latents(ws=ws, space="w+", network="", info={"source": "official projected_w.npz"})


def load_ws(path: str | os.PathLike, G: nn.Module | None = None) -> Latents:
    """Read a ws file (or an official projected_w.npz); with G, check its shape and noise maps."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ws file {path} does not exist; pass a file written by `stylegen project`")
    if path.suffix.lower() == ".npz":
        latents = _read_npz(path)
    else:
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"ws file {path} is not a readable safetensors file ({exc})") from None
        if metadata.get("format") != WS_FORMAT or "ws" not in tensors:
            raise UserError(
                f"{path} is not a ws file (no 'ws' tensor / format {metadata.get('format')!r}); "
                "pass projected_w.safetensors from `stylegen project` or a file from save_ws"
            )
        if metadata.get("format_version") != str(WS_FORMAT_VERSION):
            raise UserError(
                f"ws file {path} has format version {metadata.get('format_version')!r}; this "
                f"stylegen reads version {WS_FORMAT_VERSION}"
            )
        try:
            info = json.loads(metadata.get("info") or "{}")
        except json.JSONDecodeError:
            info = {}
        noise = {
            k[len(NOISE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(NOISE_PREFIX)
        }
        latents = Latents(
            ws=tensors["ws"].to(torch.float32),
            space=metadata.get("space", "w+"),
            network=metadata.get("network", ""),
            noise=noise,
            info=info,
        )
    if G is not None:
        check_ws(latents.ws, G, f"ws file {path}")
        latents.noise = _matching_noise(latents, G, path)
    return latents


def _matching_noise(latents: Latents, G: nn.Module, path: Path) -> dict[str, torch.Tensor]:
    """The file's noise maps if they fit G exactly; otherwise none (with a warning)."""
    if not latents.noise:
        return {}
    n = latents.ws.shape[0]
    shapes = noise_shapes(G)
    fits = set(latents.noise) == set(shapes) and all(
        tuple(v.shape) == (n, 1, *shapes[k]) for k, v in latents.noise.items()
    )
    if not fits:
        log.warning(
            "%s: its noise maps do not fit this network; rendering with the network's own noise",
            path,
        )
        return {}
    return latents.noise


def render_ws(
    G: nn.Module,
    ws: torch.Tensor,
    noise: dict[str, torch.Tensor] | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 images [N, C, H, W] of ws [N, num_ws, w_dim]; `noise` (per-sample maps, as saved by
    projection) replaces the network's constant noise."""
    if noise_mode not in ("const", "random", "none"):
        raise UserError(f"noise mode {noise_mode!r} is unknown; use const, random or none")
    check_ws(ws, G)
    out = []
    with torch.no_grad():
        for start in range(0, ws.shape[0], batch_size):
            chunk = ws[start : start + batch_size].to(device)
            part = {k: v[start : start + batch_size].to(device) for k, v in (noise or {}).items()}
            mode = "const" if part else noise_mode
            with noise_inputs(G, part):
                img = G.synthesis(chunk, noise_mode=mode)
            out.append(float_to_uint8(img).cpu())
    return torch.cat(out)


def render_ws_file(
    G: nn.Module,
    path: str | os.PathLike,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """`stylegen generate --ws FILE`: uint8 images [N, C, H, W] of a ws file, checked against G
    and rendered with the file's own noise maps when it has them (a projection's)."""
    latents = load_ws(path, G)
    return render_ws(G, latents.ws, latents.noise, noise_mode, batch_size, device)
