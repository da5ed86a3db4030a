"""What the web explorer holds while it runs: the served networks, projected latents and
background projection jobs. No FastAPI here (app.py is the HTTP layer) and no maths of its own:
every image comes from the library (`checkpoint.load`, `generate`, `latent.*`, `translate`).

A render request is composed in the order the page shows it: the base latent (a seed's ws, or a
projected latent with its noise maps), interpolation towards a second seed (lerp in W, or slerp
in Z between two seeds, latent/interpolate.py), style mixing with a third seed on a ws range
(latent/mixing.py), edits along SeFa / GANSpace / class directions (latent/edit.py), then
rendering (latent/ws.py), with a StyleGAN3 input transform (generate.set_input_transform).

Each network renders under its own lock: a StyleGAN3 transform is state of the module, and on a
small CPU two renders at once are no faster than one after the other. Projections run one at a
time on a copy of the generator in a worker thread, so other requests keep being served.
"""

from __future__ import annotations

import copy
import io
import itertools
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from stylegen.errors import UserError
from stylegen.images import to_pil

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
    "SEED_MAX",
    "Edit",
    "Explorer",
    "InvalidRequestError",
    "Job",
    "Latent",
    "RenderSpec",
    "ServedNetwork",
    "UploadError",
    "load_networks",
    "png_bytes",
    "read_upload",
    "too_large_message",
]

log = logging.getLogger(__name__)

SEED_MAX = 2**32 - 1  # seeds are NumPy RandomState seeds (stylegen.generate)
MAX_UPLOAD_BYTES = 20 * 2**20  # 20 MiB: more than any photo the page needs
MAX_UPLOAD_PIXELS = 40_000_000  # e.g. 8000 x 5000; larger images are refused before decoding
MAX_JOBS_PENDING = 4  # queued + running projections
KEEP_LATENTS = 64  # projected latents kept (oldest dropped first)
KEEP_JOBS = 64
DIRECTION_METHODS = ("sefa", "ganspace", "class")


class InvalidRequestError(Exception):
    """A request the network cannot honour (out-of-range class, ws index, ...): HTTP 422.

    `field` names the request field; the message says what is valid."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UploadError(Exception):
    """An upload that is too large or not an image: HTTP `status` with the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Edit:
    method: str  # sefa | ganspace | class
    index: int
    degree: float


@dataclass
class RenderSpec:
    """One image of a StyleGAN network, as the page's controls describe it."""

    seed: int = 0
    latent: str | None = None  # a projected latent's id: replaces the seed
    class_idx: int | None = None
    psi: float = 1.0
    noise_mode: str = "const"
    mix_seed: int | None = None
    mix_from: int = 0
    mix_to: int | None = None  # inclusive; None = the last ws index
    interp_seed: int | None = None
    interp_t: float = 0.0
    interp_space: str = "w"
    edits: list[Edit] = field(default_factory=list)
    translate_x: float = 0.0
    translate_y: float = 0.0
    rotate: float = 0.0


@dataclass
class Latent:
    """A projected latent: ws [1, num_ws, w_dim] and its noise maps, for one network."""

    id: str
    network: str
    ws: torch.Tensor
    noise: dict[str, torch.Tensor]
    psnr: float
    ssim: float
    class_idx: int | None = None


@dataclass
class Job:
    """A background projection; `state` is queued, running, done, failed or cancelled."""

    id: str
    network: str
    steps: int
    state: str = "queued"
    step: int = 0
    psnr: float | None = None
    ssim: float | None = None
    error: str | None = None
    latent: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    stepped: threading.Event = field(default_factory=threading.Event, repr=False)  # step 1 done
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    t0: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def pending(self) -> bool:
        return self.state in ("queued", "running")

    def status(self) -> dict[str, Any]:
        keys = ("id", "network", "state", "step", "steps", "psnr", "ssim", "error", "latent")
        return {**{k: getattr(self, k) for k in keys}, "notes": list(self.notes)}


class _CancelledError(Exception):
    pass


def png_bytes(img: torch.Tensor) -> bytes:
    """One uint8 [C, H, W] image as PNG bytes (fast compression: the pixels are the same)."""
    buf = io.BytesIO()
    to_pil(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def read_upload(data: bytes) -> Image.Image:
    """Decode uploaded bytes as an image; UploadError 413 (too large) or 415 (not an image)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(413, too_large_message(len(data)))
    if not data:
        raise UploadError(415, "the upload is empty; choose a PNG or JPEG image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > MAX_UPLOAD_PIXELS:
                raise UploadError(
                    413,
                    f"the image is {w}x{h} pixels, more than the {MAX_UPLOAD_PIXELS:,} allowed; "
                    "shrink it first",
                )
            im.load()
            return im.copy()
    except Image.DecompressionBombError as exc:
        raise UploadError(413, f"the image is too large to decode ({exc}); shrink it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            message = "the upload is not an image (no format Pillow reads); choose a PNG or JPEG"
        else:
            message = f"the upload is a damaged image ({exc}); choose another PNG or JPEG"
        raise UploadError(415, message) from None


def too_large_message(size: int) -> str:
    return (
        f"the upload is {size / 2**20:.1f} MiB, more than the {MAX_UPLOAD_BYTES // 2**20} MiB "
        "allowed; choose a smaller image"
    )


# ---------------------------------------------------------------------------------------------
# Networks


def _slug(path: str | os.PathLike) -> str:
    name = Path(path).resolve().name or "network"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "network"


def _class_names(G: nn.Module) -> list[str]:
    c_dim = int(getattr(G, "c_dim", 0) or 0)
    if not c_dim:
        return []
    dataset = str(getattr(G, "checkpoint_metadata", {}).get("dataset", ""))
    from stylegen.data.builtin import EMOJI_CLASSES, FASHION_MNIST_CLASSES

    known = {
        "fashion-mnist": list(FASHION_MNIST_CLASSES),
        "emoji": [c[0] for c in EMOJI_CLASSES],
    }.get(dataset)
    if known is not None and len(known) == c_dim:
        return [f"{i}: {name}" for i, name in enumerate(known)]
    return [str(i) for i in range(c_dim)]


class ServedNetwork:
    """One network the explorer serves: a StyleGAN2/3 generator or a CycleGAN pair."""

    def __init__(
        self,
        id: str,
        path: str,
        kind: str,
        device: str | torch.device = "cpu",
        G: nn.Module | None = None,
        translators: dict[str, nn.Module] | None = None,
        ganspace_samples: int = 20000,
        class_samples: int = 2000,
    ) -> None:
        self.id = id
        self.path = path
        self.kind = kind  # stylegan2 | stylegan3 | cyclegan
        self.device = device
        self.G = G
        self.translators = translators or {}
        self.lock = threading.Lock()
        self.ganspace_samples = ganspace_samples
        self.class_samples = class_samples
        self._directions: dict[str, Any] = {}
        self._directions_lock = threading.Lock()

    # -- description ---------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        base = {"id": self.id, "name": Path(self.path).name or self.path, "path": self.path}
        if self.kind == "cyclegan":
            g = self.translators["a2b"].config
            return {
                **base,
                "kind": "cyclegan",
                "resolution": int(g.img_resolution),
                "channels": int(g.in_channels),
                "c_dim": 0,
                "class_names": [],
                "num_ws": 0,
                "w_dim": 0,
                "z_dim": 0,
                "groups": {},
                "seed_max": SEED_MAX,
                "directions": [],
            }
        from stylegen.latent.layers import style_groups

        G = self.G
        methods = ["sefa", "ganspace"] + (["class"] if G.c_dim else [])
        return {
            **base,
            "kind": self.kind,
            "resolution": int(G.img_resolution),
            "channels": int(G.img_channels),
            "c_dim": int(G.c_dim),
            "class_names": _class_names(G),
            "num_ws": int(G.num_ws),
            "w_dim": int(G.w_dim),
            "z_dim": int(G.z_dim),
            "groups": style_groups(G),
            "seed_max": SEED_MAX,
            "directions": methods,
        }

    def require(self, kind: str) -> None:
        if kind == "stylegan" and self.kind == "cyclegan":
            raise InvalidRequestError(
                "network",
                f"{self.id} is a CycleGAN translator; it translates uploaded images "
                "(POST /api/networks/{id}/translate) and has no seeds or latents",
            )
        if kind == "cyclegan" and self.kind != "cyclegan":
            raise InvalidRequestError(
                "network", f"{self.id} is a {self.kind} generator, not a CycleGAN translator"
            )

    # -- directions ----------------------------------------------------------------------------

    def has_directions(self, method: str) -> bool:
        """Whether `method`'s directions are cached already (the next call returns at once)."""
        return method in self._directions

    def directions(self, method: str):
        """The network's SeFa / GANSpace / class directions, computed on first use and cached."""
        from stylegen.latent import directions as lib

        self.require("stylegan")
        if method not in DIRECTION_METHODS:
            raise InvalidRequestError(
                "method", f"{method!r} is unknown; use sefa, ganspace or class"
            )
        if method == "class" and not self.G.c_dim:
            raise InvalidRequestError(
                "method", "class directions need a conditional network; this one has no classes"
            )
        with self._directions_lock:
            if method not in self._directions:
                t0 = time.perf_counter()
                # Only the mapping network and the style affines are read: no render lock.
                if method == "sefa":
                    d = lib.sefa(self.G, network=self.path)
                elif method == "ganspace":
                    d = lib.ganspace(
                        self.G, self.ganspace_samples, device=self.device, network=self.path
                    )
                else:
                    d = lib.class_directions(
                        self.G, self.class_samples, device=self.device, network=self.path
                    )
                log.info("%s: %s directions in %.2f s", self.id, method, time.perf_counter() - t0)
                self._directions[method] = d
            return self._directions[method]

    # -- StyleGAN rendering --------------------------------------------------------------------

    def _check_spec(self, spec: RenderSpec) -> None:
        G = self.G
        from stylegen.latent.layers import describe_groups

        if G.c_dim:
            if spec.class_idx is None:
                raise InvalidRequestError(
                    "class_idx",
                    f"the network is conditional; pass class_idx in 0-{G.c_dim - 1}",
                )
            if not 0 <= spec.class_idx < G.c_dim:
                raise InvalidRequestError(
                    "class_idx",
                    f"class {spec.class_idx} is out of range; this network has classes "
                    f"0-{G.c_dim - 1}",
                )
        elif spec.class_idx is not None:
            raise InvalidRequestError(
                "class_idx", "the network is unconditional (no classes); leave class_idx out"
            )
        last = G.num_ws - 1
        mix_to = last if spec.mix_to is None else spec.mix_to
        for name, value in (("mix_from", spec.mix_from), ("mix_to", mix_to)):
            if not 0 <= value <= last:
                raise InvalidRequestError(
                    name, f"ws index {value} is out of range; use 0-{last} ({describe_groups(G)})"
                )
        if spec.mix_seed is not None and mix_to < spec.mix_from:
            raise InvalidRequestError(
                "mix_to", f"mix_to {mix_to} is below mix_from {spec.mix_from}; swap them"
            )
        if spec.interp_space not in ("z", "w"):
            raise InvalidRequestError("interp_space", f"{spec.interp_space!r}: use z or w")
        if spec.interp_space == "z" and spec.latent is not None and spec.interp_seed is not None:
            raise InvalidRequestError(
                "interp_space",
                "a projected latent has no z; interpolate from it in w (interp_space w)",
            )
        moved = (spec.translate_x, spec.translate_y, spec.rotate) != (0.0, 0.0, 0.0)
        if moved and self.kind != "stylegan3":
            raise InvalidRequestError(
                "translate_x"
                if spec.translate_x
                else "translate_y"
                if spec.translate_y
                else "rotate",
                "translate/rotate need a StyleGAN3 network; this one is StyleGAN2: leave them 0",
            )
        if spec.noise_mode not in ("const", "random", "none"):
            raise InvalidRequestError(
                "noise_mode", f"{spec.noise_mode!r}: use const, random or none"
            )

    def _seed_ws(self, seed: int, spec: RenderSpec) -> torch.Tensor:
        from stylegen.latent.ws import ws_from_seeds

        return ws_from_seeds(
            self.G, [seed], spec.psi, class_idx=spec.class_idx, device=self.device
        ).cpu()

    def compose(
        self, spec: RenderSpec, latent: Latent | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(ws [1, num_ws, w_dim], noise maps) for `spec`; call under self.lock."""
        from stylegen.latent.edit import edit_ws
        from stylegen.latent.interpolate import lerp, slerp
        from stylegen.latent.mixing import mix_ws

        G = self.G
        noise: dict[str, torch.Tensor] = {}
        if latent is not None:
            ws, noise = latent.ws.clone(), dict(latent.noise)
        else:
            ws = self._seed_ws(spec.seed, spec)
        if spec.interp_seed is not None and spec.interp_t:
            if spec.interp_space == "z":
                from stylegen.generate import class_labels, z_from_seeds

                z = z_from_seeds([spec.seed, spec.interp_seed], G.z_dim)
                zt = slerp(z[:1], z[1:], spec.interp_t)
                c = class_labels(G, spec.class_idx, 1)
                with torch.no_grad():
                    ws = G.mapping(
                        zt.to(self.device),
                        c.to(self.device) if c is not None else None,
                        truncation_psi=spec.psi,
                    ).cpu()
            else:
                ws = lerp(ws, self._seed_ws(spec.interp_seed, spec), spec.interp_t)
        if spec.mix_seed is not None:
            last = G.num_ws - 1
            styles = list(range(spec.mix_from, (last if spec.mix_to is None else spec.mix_to) + 1))
            ws = mix_ws(ws, self._seed_ws(spec.mix_seed, spec), styles)[0]
        for e in spec.edits:
            if not e.degree:
                continue
            d = self.directions(e.method)
            if not 0 <= e.index < len(d.vectors):
                raise InvalidRequestError(
                    "edits",
                    f"{e.method} direction {e.index} is out of range; this network has "
                    f"directions 0-{len(d.vectors) - 1}",
                )
            ws = edit_ws(ws, d.vectors[e.index], [e.degree], d.layers)[:, 0]
        return ws, noise

    def render(self, spec: RenderSpec, latent: Latent | None = None) -> tuple[torch.Tensor, Any]:
        """(uint8 [C, H, W], (ws, noise)) of one render request."""
        from stylegen.latent.ws import render_ws

        self.require("stylegan")
        self._check_spec(spec)
        if latent is not None and latent.network != self.id:
            raise InvalidRequestError(
                "latent", f"latent {latent.id} belongs to network {latent.network}, not {self.id}"
            )
        moved = (spec.translate_x, spec.translate_y, spec.rotate) != (0.0, 0.0, 0.0)
        with self.lock:
            ws, noise = self.compose(spec, latent)
            saved = None
            if moved:
                from stylegen.generate import set_input_transform

                saved = self.G.synthesis.input.transform.clone()
                set_input_transform(self.G, (spec.translate_x, spec.translate_y), spec.rotate)
            try:
                img = render_ws(
                    self.G, ws, noise=noise, noise_mode=spec.noise_mode, device=self.device
                )[0]
            finally:
                if saved is not None:
                    self.G.synthesis.input.transform.copy_(saved)
        return img, (ws, noise)

    def copy_generator(self) -> nn.Module:
        with self.lock:
            return copy.deepcopy(self.G)

    # -- CycleGAN ------------------------------------------------------------------------------

    def translate(self, image: Image.Image, direction: str) -> tuple[torch.Tensor, list[str]]:
        """(uint8 [C, H, W] translation, notes on how the input was converted)."""
        from stylegen.latent.targets import prepare_target
        from stylegen.translate import translate_images

        self.require("cyclegan")
        if direction not in self.translators:
            raise InvalidRequestError("direction", f"{direction!r}: use a2b or b2a")
        G = self.translators[direction]
        arr, notes = prepare_target(image, int(G.config.img_resolution), int(G.config.in_channels))
        with self.lock:
            out = translate_images(G, torch.from_numpy(arr)[None])[0]
        return out, notes


def load_networks(
    paths: list[str], device: str | torch.device = "cpu", **kwargs: Any
) -> list[ServedNetwork]:
    """Load every network named on the command line; UserError (one line) on the first bad one.

    A path holding a CycleGAN run, snapshot or generator is served as a translator pair; any
    other path must hold a StyleGAN2/3 generator (checkpoint folder, run folder or official .pkl).
    """
    from stylegen.checkpoint import load
    from stylegen.latent.layers import family
    from stylegen.translate import check_not_cyclegan, load_translator

    if not paths:
        raise UserError("pass at least one --network")
    out: list[ServedNetwork] = []
    ids: set[str] = set()
    for path in paths:
        if not Path(path).exists():
            raise UserError(
                f"--network {path} does not exist; pass a checkpoint folder, a run folder "
                "(e.g. runs/demo/00000-fashion-mnist-cpu32) or an official .pkl"
            )
        base = _slug(path)
        nid = base
        for i in itertools.count(2):
            if nid not in ids:
                break
            nid = f"{base}-{i}"
        ids.add(nid)
        try:
            check_not_cyclegan(path)
            is_cyclegan = False
        except UserError:
            is_cyclegan = True
        if is_cyclegan:
            pair = {d: load_translator(path, d, device) for d in ("a2b", "b2a")}
            out.append(ServedNetwork(nid, str(path), "cyclegan", device, translators=pair))
            continue
        G = load(path, device=device)
        try:
            kind = family(G)
        except UserError as exc:
            raise UserError(f"--network {path}: {exc}") from None
        out.append(ServedNetwork(nid, str(path), kind, device, G=G, **kwargs))
        log.info("serving %s (%s) from %s", nid, kind, path)
    return out


# ---------------------------------------------------------------------------------------------
# The explorer: networks + latents + projection jobs


class Explorer:
    """The state behind the HTTP API."""

    def __init__(
        self,
        networks: list[ServedNetwork],
        perceptual: Callable[[], nn.Module] | None = None,
        max_project_steps: int = 5000,
    ) -> None:
        self.networks: dict[str, ServedNetwork] = {n.id: n for n in networks}
        self._perceptual_factory = perceptual
        self._perceptual: nn.Module | None = None
        self._perceptual_lock = threading.Lock()
        self.max_project_steps = max_project_steps
        self.latents: OrderedDict[str, Latent] = OrderedDict()
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # Made on the first projection and dropped by shutdown(): an app's lifespan ends with
        # shutdown(), and the same explorer may serve again (tests, an ASGI client per request).
        self._executor: ThreadPoolExecutor | None = None

    def network(self, nid: str) -> ServedNetwork:
        if nid not in self.networks:
            raise KeyError(nid)
        return self.networks[nid]

    def latent(self, lid: str | None) -> Latent | None:
        if lid is None:
            return None
        with self._lock:
            if lid not in self.latents:
                raise InvalidRequestError(
                    "latent",
                    f"latent {lid!r} is unknown (projections are kept while the server runs; "
                    "project the image again)",
                )
            return self.latents[lid]

    # -- projection ----------------------------------------------------------------------------

    def perceptual(self) -> nn.Module:
        with self._perceptual_lock:
            if self._perceptual is None:
                if self._perceptual_factory is None:
                    from stylegen.latent.perceptual import load_perceptual

                    self._perceptual = load_perceptual()
                else:
                    self._perceptual = self._perceptual_factory()
            return self._perceptual

    def start_projection(
        self,
        net: ServedNetwork,
        image: Image.Image,
        steps: int,
        class_idx: int | None = None,
        space: str = "w",
    ) -> Job:
        """Queue a projection of `image` into `net`; returns its job at once."""
        from stylegen.latent.config import ProjectionConfig
        from stylegen.latent.targets import prepare_target

        net.require("stylegan")
        G = net.G
        if not 1 <= steps <= self.max_project_steps:
            raise InvalidRequestError(
                "steps", f"steps {steps} must lie in 1-{self.max_project_steps}"
            )
        if G.c_dim and class_idx is not None and not 0 <= class_idx < G.c_dim:
            raise InvalidRequestError(
                "class_idx",
                f"class {class_idx} is out of range; this network has classes 0-{G.c_dim - 1}",
            )
        if not G.c_dim and class_idx is not None:
            raise InvalidRequestError(
                "class_idx", "the network is unconditional (no classes); leave class_idx out"
            )
        if space not in ("w", "w+"):
            raise InvalidRequestError("space", f"{space!r}: use w or w+")
        arr, notes = prepare_target(image, int(G.img_resolution), int(G.img_channels))
        cfg = ProjectionConfig(space=space, steps=steps, log_every=max(1, steps // 20))
        with self._lock:
            pending = sum(j.pending for j in self.jobs.values())
            if pending >= MAX_JOBS_PENDING:
                raise UploadError(
                    429,
                    f"{pending} projections are already queued or running; wait for one to end "
                    "or cancel it",
                )
            job = Job(id=f"p{next(self._ids)}", network=net.id, steps=steps, notes=notes)
            self.jobs[job.id] = job
            while len(self.jobs) > KEEP_JOBS:
                oldest = next(iter(self.jobs))
                if self.jobs[oldest].pending:
                    break
                self.jobs.pop(oldest)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projection")
            executor = self._executor
        target = torch.from_numpy(arr)[None]
        executor.submit(self._project, job, net, target, cfg, class_idx)
        log.info("projection %s queued: %s, %d steps", job.id, net.id, steps)
        return job

    def _project(self, job: Job, net: ServedNetwork, target, cfg, class_idx) -> None:
        from stylegen.latent.project import project

        if job.cancel.is_set():
            job.state = "cancelled"
            job.finished.set()
            return
        job.state = "running"
        job.t0 = time.perf_counter()

        def progress(step: int, steps: int, entry: dict[str, Any] | None) -> None:
            if job.cancel.is_set():
                raise _CancelledError
            job.step = step
            job.stepped.set()
            if entry is not None:
                job.psnr = float(entry["psnr"][0])
                job.ssim = float(entry["ssim"][0])

        try:
            perceptual = self.perceptual()
            G = net.copy_generator()
            result = project(G, target, perceptual, cfg, class_idx, net.device, progress)
            final = result.log[-1]
            latent = Latent(
                id=job.id,
                network=net.id,
                ws=result.ws,
                noise=result.noise,
                psnr=float(final["psnr"][0]),
                ssim=float(final["ssim"][0]),
                class_idx=class_idx,
            )
            with self._lock:
                self.latents[latent.id] = latent
                while len(self.latents) > KEEP_LATENTS:
                    self.latents.popitem(last=False)
            job.psnr, job.ssim, job.latent = latent.psnr, latent.ssim, latent.id
            job.state = "done"
        except _CancelledError:
            job.state = "cancelled"
        except UserError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # a bug: keep serving, say so in the page and the log
            log.exception("projection %s failed", job.id)
            job.error, job.state = f"internal error: {exc}", "failed"
        finally:
            job.seconds = time.perf_counter() - job.t0
            log.info("projection %s: %s after %.1f s", job.id, job.state, job.seconds)
            job.finished.set()

    def job(self, jid: str) -> Job:
        with self._lock:
            if jid not in self.jobs:
                raise KeyError(jid)
            return self.jobs[jid]

    def cancel(self, jid: str) -> Job:
        job = self.job(jid)
        job.cancel.set()  # the worker stops at the next step, or skips a queued job
        if job.state == "queued":
            job.state = "cancelled"
        return job

    def shutdown(self) -> None:
        """Cancel every projection and stop the worker (the server is going down)."""
        with self._lock:
            jobs = list(self.jobs.values())
            executor, self._executor = self._executor, None
        for job in jobs:
            job.cancel.set()
            if job.state == "queued":
                job.state = "cancelled"
                job.finished.set()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # -- latents as files ----------------------------------------------------------------------

    def ws_file(self, net: ServedNetwork, spec: RenderSpec) -> bytes:
        """The latent of a render request as a ws file (latent/ws.py), for download: render it
        with `stylegen generate --ws FILE` (a StyleGAN3 transform is not part of the file)."""
        from stylegen.latent.ws import save_ws

        _, (ws, noise) = net.render(spec, self.latent(spec.latent))
        space = "w" if bool((ws == ws[:, :1]).all()) else "w+"
        info = {"explorer": _spec_dict(spec)}
        with tempfile.TemporaryDirectory(prefix="stylegen-web-") as tmp:
            path = save_ws(
                Path(tmp) / "latent.safetensors",
                ws,
                space=space,
                network=net.path,
                noise=noise or None,
                info=info,
            )
            return path.read_bytes()


def _spec_dict(spec: RenderSpec) -> dict[str, Any]:
    out = {k: v for k, v in vars(spec).items() if k != "edits"}
    out["edits"] = [vars(e) for e in spec.edits]
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in out.items()}
