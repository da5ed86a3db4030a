"""Image-to-image translation with a trained CycleGAN generator (Zhu et al. 2017): find the
generator for a direction in a run, snapshot or checkpoint folder, and translate images or files.

A CycleGAN snapshot folder holds G_AB/ (domain A -> B) and G_BA/ (B -> A), each an ordinary
checkpoint; `--network` may name a run folder (its newest snapshot is used), a snapshot folder, or
one generator's folder. Input images are converted to the generator's channel count and resized
to its training size (bilinear), then written as PNG under the same names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from stylegen.checkpoint import CONFIG_FILE, load
from stylegen.data.files import input_files, read_image
from stylegen.errors import UserError
from stylegen.images import float_to_uint8, resize_to, save_image, uint8_to_float
from stylegen.models.cyclegan import DIRECTIONS, ResnetGenerator

__all__ = [
    "DIRECTIONS",
    "check_not_cyclegan",
    "evaluate",
    "load_translator",
    "resolve_translator",
    "run_options",
    "translate_files",
    "translate_images",
]


def _model_class(folder: Path) -> str:
    try:
        return str(json.loads((folder / CONFIG_FILE).read_text()).get("model_class", ""))
    except (OSError, json.JSONDecodeError, AttributeError):
        return ""


def _snapshots(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.glob("snapshot-*") if p.is_dir())


def _is_cyclegan_snapshot(folder: Path) -> bool:
    return all((folder / sub / CONFIG_FILE).exists() for sub in DIRECTIONS.values())


def resolve_translator(path: str | os.PathLike, direction: str) -> Path:
    """The checkpoint folder of the generator for `direction` ('a2b' or 'b2a') under `path`."""
    if direction not in DIRECTIONS:
        raise UserError(f"--direction {direction!r} must be a2b or b2a")
    path = Path(path)
    if not path.is_dir():
        raise UserError(
            f"--network {path} is not a folder; pass a CycleGAN run, snapshot or generator folder "
            "written by `stylegen cyclegan train`"
        )
    sub = DIRECTIONS[direction]
    if (path / CONFIG_FILE).exists():
        return path  # one generator's folder; its class and direction are checked on load
    if _is_cyclegan_snapshot(path):
        return path / sub
    snaps = [s for s in _snapshots(path) if _is_cyclegan_snapshot(s)]
    if snaps:
        return snaps[-1] / sub
    if any((s / CONFIG_FILE).exists() for s in _snapshots(path)):
        raise UserError(
            f"--network {path} is a StyleGAN run, not a CycleGAN one; use `stylegen generate` "
            "for it, or pass a run folder written by `stylegen cyclegan train`"
        )
    raise UserError(
        f"--network {path} holds no CycleGAN snapshot (no {sub}/{CONFIG_FILE}); pass a run folder "
        "written by `stylegen cyclegan train`, one of its snapshot-* folders, or G_AB/ or G_BA/"
    )


def load_translator(
    path: str | os.PathLike, direction: str = "a2b", device: str | torch.device = "cpu"
) -> ResnetGenerator:
    """Load the CycleGAN generator that translates in `direction`, in eval mode."""
    folder = resolve_translator(path, direction)
    model_class = _model_class(folder)
    if model_class and not model_class.startswith("cyclegan."):
        raise UserError(
            f"--network {path} is a {model_class} checkpoint, not a CycleGAN generator; use "
            "`stylegen generate` for StyleGAN networks"
        )
    G = load(folder, device=device)
    if not isinstance(G, ResnetGenerator):
        raise UserError(f"--network {folder} is a {type(G).__name__}, not a CycleGAN generator")
    if G.config.direction != direction:
        raise UserError(
            f"--network {folder} translates {G.config.direction}, but --direction {direction} "
            f"was asked; pass --direction {G.config.direction} or the other generator's folder"
        )
    return G


def check_not_cyclegan(path: str | os.PathLike) -> None:
    """For `stylegen generate`: a clear error when `path` holds CycleGAN networks."""
    path = Path(path)
    if not path.is_dir():
        return  # checkpoint.resolve reports missing paths and files
    cyclegan = _model_class(path).startswith("cyclegan.") or _is_cyclegan_snapshot(path)
    if not cyclegan and not (path / CONFIG_FILE).exists():
        cyclegan = any(_is_cyclegan_snapshot(s) for s in _snapshots(path))
    if cyclegan:
        raise UserError(
            f"--network {path} is a CycleGAN checkpoint (it translates images, it does not "
            f"generate them from seeds); use `stylegen translate --network {path} "
            "--direction a2b --input IMAGES --outdir OUT`"
        )


@torch.no_grad()
def translate_images(
    G: ResnetGenerator, images: np.ndarray | torch.Tensor, batch_size: int = 16
) -> torch.Tensor:
    """uint8 images [N, C, H, W] (C and H=W as G was trained) -> translated uint8 [N, C, H, W]."""
    device = next(G.parameters()).device
    images = torch.as_tensor(images)
    out = []
    for start in range(0, len(images), batch_size):
        x = uint8_to_float(images[start : start + batch_size]).to(device)
        out.append(float_to_uint8(G(x)).cpu())
    return torch.cat(out) if out else images.clone()


def translate_files(
    G: ResnetGenerator,
    inp: str | os.PathLike,
    outdir: str | os.PathLike,
    batch_size: int = 16,
) -> list[Path]:
    """Translate an image file or every image in a folder; writes <outdir>/<relative name>.png."""
    inp, outdir = Path(inp), Path(outdir)
    files = input_files(inp)
    size, channels = G.config.img_resolution, G.config.in_channels
    written = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        imgs = np.stack([read_image(f, channels, size) for f in chunk])
        for f, img in zip(chunk, translate_images(G, imgs, batch_size)):
            rel = f.relative_to(inp) if inp.is_dir() else Path(f.name)
            written.append(save_image(img, (outdir / rel).with_suffix(".png")))
    return written


# ---------------------------------------------------------------------------------------------
# Evaluation


def run_options(network: str | os.PathLike) -> dict:
    """training_options.json of the CycleGAN run that `network` (run, snapshot or generator
    folder) belongs to; UserError when there is none."""
    path = Path(network).resolve()
    for folder in (path, path.parent, path.parent.parent):
        options = folder / "training_options.json"
        if options.is_file():
            doc = json.loads(options.read_text())
            if doc.get("kind") == "cyclegan":
                return doc
    raise UserError(
        f"cannot tell the data of --network {network} (no CycleGAN training_options.json "
        "beside it); pass --data-a and --data-b"
    )


def _domain_images(ds, num: int | None, size: int) -> torch.Tensor:
    """A fixed subset (seed 0) of up to `num` images of a dataset as uint8 at `size` x `size`."""
    idx = np.arange(len(ds))
    if num is not None and num < len(ds):
        idx = np.sort(np.random.default_rng(0).permutation(len(ds))[:num])
    imgs = torch.from_numpy(np.stack([ds[int(i)][0] for i in idx]))
    return float_to_uint8(resize_to(uint8_to_float(imgs), size))


def evaluate(
    network: str | os.PathLike,
    data_a: str,
    data_b: str,
    *,
    num: int | None = 1000,
    fid: bool = True,
    detector=None,
    device: str | torch.device = "cpu",
    batch_size: int = 16,
) -> dict[str, float]:
    """Cycle-reconstruction PSNR/SSIM (dB / [0,1], mean over images) for A -> B -> A and
    B -> A -> B, and with `fid` the FID of G_AB(A) against real B (`fid_a2b`), of G_BA(B) against
    real A (`fid_b2a`) and, as the no-translation baseline, of real A against real B
    (`fid_a_vs_b`). PSNR of identical images (+inf) is capped at 100 dB for the mean.

    Uses a fixed subset of `num` images per domain (all when None). `detector` is an
    InceptionFeatures (default: stylegen.metrics.load_detector(), offline).
    """
    from stylegen.data.open import open_dataset
    from stylegen.metrics.image_quality import psnr, ssim

    gens = {d: load_translator(network, d, device) for d in DIRECTIONS}
    size = gens["a2b"].config.img_resolution
    domains = {"a": open_dataset(data_a), "b": open_dataset(data_b)}
    if domains["a"].num_channels != gens["a2b"].config.in_channels:
        raise UserError(
            f"--data-a {data_a} has {domains['a'].num_channels} channel(s) but the network was "
            f"trained on {gens['a2b'].config.in_channels}; pass the data it was trained on"
        )
    reals = {k: _domain_images(ds, num, size) for k, ds in domains.items()}
    fakes = {
        "b": translate_images(gens["a2b"], reals["a"], batch_size),
        "a": translate_images(gens["b2a"], reals["b"], batch_size),
    }
    recs = {
        "a": translate_images(gens["b2a"], fakes["b"], batch_size),
        "b": translate_images(gens["a2b"], fakes["a"], batch_size),
    }
    out: dict[str, float] = {"num_a": len(reals["a"]), "num_b": len(reals["b"])}
    for k in ("a", "b"):
        x, y = uint8_to_float(reals[k]), uint8_to_float(recs[k])
        out[f"psnr_cycle_{k}"] = float(psnr(x, y).clamp(max=100).mean())
        out[f"ssim_cycle_{k}"] = float(ssim(x, y).mean())
    if fid:
        out.update(_fids(reals, fakes, detector, batch_size))
    return out


def _fids(reals: dict, fakes: dict, detector, batch_size: int) -> dict[str, float]:
    """FID of translated images against the real images of their target domain, and of the two
    real domains against each other (what an identity translation would score)."""
    from stylegen.metrics import compute_features_for_generator, frechet_distance, load_detector

    detector = detector or load_detector()

    def stats(images: torch.Tensor) -> tuple:
        def sampler(n: int, start: int) -> torch.Tensor:
            return images[start : start + n]

        return compute_features_for_generator(sampler, len(images), batch_size, detector).mean_cov()

    real = {k: stats(v) for k, v in reals.items()}
    return {
        "fid_a2b": frechet_distance(*stats(fakes["b"]), *real["b"]),
        "fid_b2a": frechet_distance(*stats(fakes["a"]), *real["a"]),
        "fid_a_vs_b": frechet_distance(*real["a"], *real["b"]),
    }
