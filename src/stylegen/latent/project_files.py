"""What `stylegen project` leaves in its output folder (the official projector's files, plus a
report): projected_w.safetensors (latent/ws.py format, with the optimised noise maps), proj.png,
target.png, an optional progress video (target | projection at every step), report.json with
PSNR, SSIM and the perceptual distance at each logged step, and with pivotal tuning the tuned
generator as a checkpoint (pti_generator/) and its rendering (proj_pti.png). No paper: plumbing.

Everything is computed before the first file is written, each file is written atomically, and
report.json comes last, so a folder with a report is complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stylegen.fileio import atomic_write_text
from stylegen.images import float_to_uint8, save_image
from stylegen.latent.noise import noise_inputs
from stylegen.latent.project import ProjectionResult
from stylegen.latent.video import check_video_path, write_video
from stylegen.latent.ws import render_ws, save_ws

__all__ = ["progress_frames", "write_projection"]


def progress_frames(
    G: nn.Module, result: ProjectionResult, target: torch.Tensor, batch_size: int = 32
) -> torch.Tensor:
    """uint8 [steps, C, H, 2W]: the target beside the projection after each step (first image;
    needs a result made with keep_history)."""
    if result.history is None:
        raise ValueError("the projection kept no history; run it with keep_history=True")
    ws = result.history[:, 0]
    noise = {k: v[:1].expand(len(ws), -1, -1, -1) for k, v in result.noise.items()}
    frames = render_ws(G, ws, noise=noise, batch_size=batch_size)
    left = target.unsqueeze(0).expand(len(frames), -1, -1, -1)
    return torch.cat([left, frames], dim=3)


def _scalar(entry: dict[str, Any]) -> dict[str, Any]:
    """One target: per-image lists of length 1 become numbers."""
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in entry.items()}


def write_projection(
    outdir: str | os.PathLike,
    G: nn.Module,
    result: ProjectionResult,
    target: torch.Tensor,
    *,
    network: str = "",
    target_path: str = "",
    target_notes: list[str] | None = None,
    video: str | os.PathLike | None = None,
    video_fps: float = 30.0,
    pti: tuple[nn.Module, list[dict[str, Any]]] | None = None,
) -> dict[str, Path]:
    """Write one target's projection (target: uint8 [C, H, W]); returns {name: path}."""
    outdir = Path(outdir)
    video_path = outdir / video if video is not None else None
    if video_path is not None:
        check_video_path(video_path, "--video")
    frames = progress_frames(G, result, target) if video_path is not None else None
    pti_image = None
    if pti is not None:
        tuned, _ = pti
        with torch.no_grad(), noise_inputs(tuned, result.noise):
            pti_image = float_to_uint8(tuned.synthesis(result.ws, noise_mode="const"))[0]
    report: dict[str, Any] = {
        "network": network,
        "target": target_path,
        "target_notes": list(target_notes or []),
        "space": result.space,
        "steps": result.config.get("steps"),
        "seconds": round(result.seconds, 3),
        "perceptual": result.perceptual,
        "final": _scalar(result.final_scores()),
        "log": [_scalar(e) for e in result.log],
        "config": result.config,
    }
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {
        "ws": save_ws(
            outdir / "projected_w.safetensors",
            result.ws,
            space=result.space,
            network=network,
            noise=result.noise,
            info={"target": target_path, "perceptual": result.perceptual},
        ),
        "proj": save_image(result.images[0], outdir / "proj.png"),
        "target": save_image(target, outdir / "target.png"),
    }
    if frames is not None:
        paths["video"] = write_video(frames, video_path, fps=video_fps)
    if pti is not None:
        tuned, pti_log = pti
        paths["pti_generator"] = tuned.save(
            outdir / "pti_generator", metadata={"pti_of": network, "target": target_path}
        )
        paths["proj_pti"] = save_image(pti_image, outdir / "proj_pti.png")
        report["pti"] = {
            "final": _scalar({k: pti_log[-1][k] for k in ("psnr", "ssim", "perceptual")}),
            "log": [_scalar(e) for e in pti_log],
            "generator": str(paths["pti_generator"]),
        }
    report["files"] = sorted(p.name for p in paths.values())
    atomic_write_text(outdir / "report.json", json.dumps(report, indent=2, default=_json) + "\n")
    paths["report"] = outdir / "report.json"
    return paths


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
