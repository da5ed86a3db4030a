"""The one training loop every model family runs on.

A family (StyleGAN2/3 in training/stylegan.py, CycleGAN in training/cyclegan.py) supplies a small
*step* object: its networks and optimisers, one training step that returns how many optimiser
steps it had to skip for non-finite losses, its state for an exact resume, its sample grid and
the networks a snapshot holds (the `TrainingStep` protocol below). Everything else lives here,
once, and reads top to bottom in `Trainer.run`:

    while images seen < total:
        step.train_step()                           the family's maths
        count images, watch for divergence
        every tick: stats -> stats.jsonl / TensorBoard, a log line, progress callback
        every `snap` ticks (and at the end): atomic snapshot, loss plot, metrics hook

plus the run's life around it: creating or resuming the run folder (runs.py), holding its lock,
torchrun sessions (rank 0 alone writes files), and Ctrl-C: the first one finishes the current
step, writes a final snapshot and stops (exit 130); a second one stops at once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from stylegen import runs
from stylegen.config import config_from_dict, config_to_dict
from stylegen.devices import check_device, prepare_for_training
from stylegen.errors import TrainingDivergedError, UserError
from stylegen.fileio import atomic_dir
from stylegen.images import save_image
from stylegen.training import distributed
from stylegen.training.stats import (
    Panel,
    StatsCollector,
    StatsWriter,
    plot_losses,
    plot_panels,
)

__all__ = [
    "adam",
    "optimizer_step",
    "step_unless",
    "Family",
    "Progress",
    "ProgressFn",
    "Trainer",
    "TrainingStep",
    "new_step",
    "resume_run",
    "start_run",
]

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What the CLI's progress bar needs after every minibatch and tick."""

    cur_nimg: int
    total_nimg: int
    tick: int
    stats: dict[str, Any] | None = None  # set at the end of a tick


ProgressFn = Callable[[Progress], None]


class TrainingStep(Protocol):
    """What a model family gives the trainer. Attributes are read once the step is built.

    Two members are optional (the trainer reads them with getattr): `figures`, more plots drawn
    from stats.jsonl at every snapshot beside losses.png ({"accuracy.png": [panels]}), and
    `snapshot_images()`, more uint8 images written into each snapshot folder
    ({"reconstructions.png": grid}).
    """

    kind: ClassVar[str]  # written into training_options.json ("stylegan", "cyclegan", ...)
    loss_panels: ClassVar[list[Panel]]  # extra panels of losses.png
    log_keys: ClassVar[list[tuple[str, str]]]  # (label, stats key) pairs of the tick log line
    divergence_hint: ClassVar[str]  # how to recover when losses stay non-finite
    batch: int  # images per step, over every process
    device: torch.device
    total_nimg: int  # train until this many images
    stats: StatsCollector  # the step reports its losses here

    def train_step(self, cur_nimg: int, batch_idx: int) -> int | torch.Tensor:
        """One minibatch; returns the number of optimiser steps skipped for non-finite loss: an
        int, or a 0-dim tensor left on the step's device (read by the trainer once a tick)."""
        ...

    def tick_stats(self) -> dict[str, Any]:
        """Family values logged once per tick (e.g. ADA's p, the epoch)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue bit-for-bit (tensors and containers only); collective."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        """Write the snapshot's checkpoint(s) into `folder`."""
        ...

    def sample_grid(self) -> np.ndarray:
        """The uint8 grid written as samples.png and fakesNNNNNN.png."""
        ...

    def preview_reals(self) -> np.ndarray | None:
        """A uint8 grid of training images for reals.png, or None."""
        ...

    def metrics_target(self) -> tuple[torch.nn.Module, Any] | None:
        """(network, dataset) for the metrics hook, or None when the family has no metrics."""
        ...


# ---------------------------------------------------------------------------------------------
# The loop


class Trainer:
    """Runs a step to its end: ticks, stats, snapshots, divergence, metrics, Ctrl-C."""

    def __init__(
        self, step: TrainingStep, cfg: Any, run_dir: Path, progress: ProgressFn | None = None
    ) -> None:
        self.step = step
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = distributed.info()
        self.main = self.dist.is_main  # rank 0 alone writes files
        self.progress = progress if self.main else None
        self.cur_nimg = 0
        self.batch_idx = 0
        self.tick = 0
        self.nonfinite_total = 0  # optimiser steps skipped, over the whole run
        self.nonfinite_streak = 0  # minibatches in a row with a skipped step
        self._nonfinite_on_device = _DeviceStreak()  # the same, not yet read from the device
        self._stop_requested = False

    def run(self) -> Path | None:
        """Train until the step's total (or the config's `minutes`); returns the newest
        snapshot folder."""
        step, cfg = self.step, self.cfg
        tick_nimg = max(int(cfg.tick_kimg * 1000), 1)
        writer = StatsWriter(self.run_dir) if self.main else None
        if self.cur_nimg == 0 and self.main:
            reals = step.preview_reals()
            if reals is not None:
                save_image(reals, self.run_dir / "reals.png")
        tick_start_nimg, tick_start_time, start_time = self.cur_nimg, time.time(), time.time()
        last_snapshot = None
        try:
            with self._graceful_interrupt():
                while self.cur_nimg < step.total_nimg:
                    skipped = step.train_step(self.cur_nimg, self.batch_idx)
                    self.cur_nimg += step.batch
                    self.batch_idx += 1
                    self._check_divergence(skipped)
                    out_of_time, stop_requested = self._stop_votes(start_time)
                    done = self.cur_nimg >= step.total_nimg or out_of_time
                    if self.progress:
                        self.progress(Progress(self.cur_nimg, step.total_nimg, self.tick))
                    if stop_requested:
                        self._stop_with_snapshot(last_snapshot)
                    if not done and self.cur_nimg < tick_start_nimg + tick_nimg:
                        continue
                    now = time.time()
                    stats = self._end_tick(tick_start_nimg, now - tick_start_time, now - start_time)
                    if writer:
                        writer.write(stats)
                    self.tick += 1
                    if done or self.tick % cfg.snap == 0:
                        last_snapshot = self.snapshot()
                        if self.main:
                            self.plot_figures()
                            self.evaluate_metrics(last_snapshot, writer)
                    if self.progress:
                        self.progress(Progress(self.cur_nimg, step.total_nimg, self.tick, stats))
                    if done:  # --kimg reached or --minutes spent
                        break
                    tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
        finally:
            if writer:
                writer.close()
        distributed.barrier()  # nobody leaves while rank 0 still writes the last snapshot
        return last_snapshot or (runs.latest_snapshot(self.run_dir) if self.main else None)

    def _stop_votes(self, start_time: float) -> tuple[bool, bool]:
        """(the config's `minutes` budget is spent, some process was asked to stop), agreed by
        every process in one collective per minibatch. The budget goes by rank 0's clock, so
        that every process stops after the same minibatch."""
        minutes = getattr(self.cfg, "minutes", None)
        spent = minutes is not None and time.time() - start_time >= minutes * 60
        stop = self._stop_requested
        if self.dist.enabled:
            # On the step's device: a NCCL process group has no collectives for CPU tensors.
            votes = torch.tensor([float(spent and self.main), float(stop)], device=self.step.device)
            spent, stop = (v > 0 for v in distributed.all_reduce_sum_(votes).tolist())
        if spent:
            log.info("--minutes %g spent at kimg %.3f; stopping", minutes, self.cur_nimg / 1000)
        return spent, stop

    def plot_figures(self) -> None:
        """losses.png and the step's own figures (e.g. accuracy.png), from stats.jsonl."""
        stats_file = self.run_dir / runs.STATS_FILE
        plot_losses(stats_file, self.run_dir / "losses.png", self.step.loss_panels)
        for name, panels in getattr(self.step, "figures", {}).items():
            plot_panels(stats_file, self.run_dir / name, panels)

    def _check_divergence(self, skipped: int | torch.Tensor) -> None:
        """Stop once whole minibatches keep producing non-finite losses.

        A step that returns its count as a tensor (every family's step does: the count is still
        on its device) is not read here: the counts add up on the device and `_settle_nonfinite`
        reads them at the tick's end, so the host never waits for a GPU minibatch to finish. A
        run that diverges stops at that tick instead of at once; the skipped steps have left its
        weights untouched.
        """
        if isinstance(skipped, torch.Tensor):
            self._nonfinite_on_device.add(skipped, self.nonfinite_streak)
            return
        self.nonfinite_total += skipped
        self.nonfinite_streak = self.nonfinite_streak + 1 if skipped else 0
        self._raise_if_diverged(self.nonfinite_streak)

    def _settle_nonfinite(self) -> None:
        """Read the device's skipped-step counts since the last call (one sync) and check them."""
        counts = self._nonfinite_on_device.read()
        if counts is not None:
            total, self.nonfinite_streak, longest = counts
            self.nonfinite_total += total
            self._raise_if_diverged(longest)

    def _raise_if_diverged(self, streak: int) -> None:
        if streak >= self.cfg.max_nonfinite:
            raise TrainingDivergedError(
                f"losses were not finite for {streak} steps in a row by "
                f"kimg {self.cur_nimg / 1000:.2f}; the last good snapshot in {self.run_dir} "
                f"is intact: {self.step.divergence_hint} and resume"
            )

    def _end_tick(self, start_nimg: int, tick_sec: float, total_sec: float) -> dict[str, Any]:
        self._settle_nonfinite()
        stats_collector = self.step.stats
        if self.dist.enabled:  # means over every process's samples
            names = distributed.all_gather_objects(stats_collector.names())
            union = list(dict.fromkeys(name for local in names for name in local))
            stats_collector.reduce(union, distributed.all_reduce_sum_, self.step.device)
        kimg_done = max((self.cur_nimg - start_nimg) / 1000, 1e-8)
        stats = stats_collector.tick(
            {
                "Progress/tick": self.tick,
                "Progress/kimg": self.cur_nimg / 1000,
                **self.step.tick_stats(),
                "Progress/nonfinite_steps": self.nonfinite_total,
                "Timing/sec_per_tick": tick_sec,
                "Timing/sec_per_kimg": tick_sec / kimg_done,
                "Timing/total_sec": total_sec,
            }
        )
        fields = [("tick", "Progress/tick"), ("kimg", "Progress/kimg")]
        fields += [("sec/kimg", "Timing/sec_per_kimg"), *self.step.log_keys]
        log.info(" ".join(f"{label} {stats.get(key, float('nan')):.3g}" for label, key in fields))
        return stats

    # -- snapshots ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The step's state plus the loop's counters; collective with several processes."""
        self._settle_nonfinite()
        counters = [self.cur_nimg, self.batch_idx, self.tick, self.nonfinite_total]
        return {**self.step.state_dict(), "counters": torch.tensor(counters)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step.load_state_dict(state)
        counters = [int(v) for v in state["counters"]]
        if len(counters) == 3:  # CycleGAN snapshots before the shared trainer: iteration, tick
            counters = [counters[0] * self.step.batch, counters[0], counters[1], 0]
        self.cur_nimg, self.batch_idx, self.tick, self.nonfinite_total = counters

    def snapshot(self) -> Path:
        """Write snapshot-<kimg>/ atomically: the networks, training state and samples."""
        final = self.run_dir / runs.snapshot_name(self.cur_nimg)
        state = self.state_dict()
        if not self.main:
            return final
        metadata = {"kimg": self.cur_nimg / 1000, "run": self.run_dir.name}
        try:
            with atomic_dir(final) as tmp:
                self.step.save_networks(tmp, metadata)
                torch.save(state, tmp / runs.STATE_FILE)
                grid = self.step.sample_grid()
                save_image(grid, tmp / "samples.png")
                snapshot_images = getattr(self.step, "snapshot_images", dict)
                for name, image in snapshot_images().items():
                    save_image(image, tmp / name)
        except OSError as exc:
            raise UserError(
                f"could not write snapshot {final} ({exc.strerror}); free disk space or pick "
                "another --outdir, then --resume"
            ) from None
        save_image(grid, self.run_dir / f"fakes{self.cur_nimg // 1000:06d}.png")
        log.info("snapshot %s", final)
        return final

    def evaluate_metrics(self, snapshot: Path, writer: StatsWriter | None = None) -> None:
        """cfg.metrics on the step's network -> metrics.jsonl, metrics.png and TensorBoard."""
        names = getattr(self.cfg, "metrics", ())
        target = self.step.metrics_target() if names else None
        if target is None:
            return
        from stylegen.metrics.report import evaluate_snapshot

        network, dataset = target
        results = evaluate_snapshot(
            names,
            G=network,
            dataset=dataset,
            run_dir=self.run_dir,
            kimg=self.cur_nimg / 1000,
            snapshot=snapshot,
            device=str(self.step.device),
            max_real=getattr(self.cfg, "metrics_max_real", None),
        )
        if writer is not None:
            values = {f"Metrics/{k}": v for r in results for k, v in r["results"].items()}
            writer.write_scalars(values, step=self.cur_nimg)

    # -- Ctrl-C -----------------------------------------------------------------------------

    @contextmanager
    def _graceful_interrupt(self) -> Iterator[None]:
        """First SIGINT/SIGTERM: note it (the loop snapshots after the current step and stops);
        the handler then steps aside, so a second signal interrupts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def request_stop(signum: int, frame: object) -> None:
            self._stop_requested = True
            log.warning("interrupted: writing a final snapshot (interrupt again to stop at once)")
            for sig in previous:
                signal.signal(sig, _raise_interrupt)

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_with_snapshot(self, last_snapshot: Path | None) -> None:
        if last_snapshot is None or last_snapshot.name != runs.snapshot_name(self.cur_nimg):
            self.snapshot()
        raise KeyboardInterrupt


# Devices on which `adam` builds torch's fused Adam: one kernel for every parameter, and it can
# skip a step for a non-finite loss on the device (see step_unless).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(params: Iterable[Any], **kwargs: Any) -> torch.optim.Adam:
    """torch.optim.Adam over `params` (tensors or param-group dicts), fused where every
    parameter is a floating-point tensor on one of FUSED_ADAM_DEVICES."""
    params = list(params)
    tensors = [t for g in params for t in (g["params"] if isinstance(g, dict) else [g])]
    fused = all(t.is_floating_point() and t.device.type in FUSED_ADAM_DEVICES for t in tensors)
    return torch.optim.Adam(params, fused=fused, **kwargs)


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """Backward + step for the families' plain optimiser steps; a non-finite loss skips the step
    (returns 1, else 0, as a 0-dim tensor on the loss's device that the trainer counts as a
    skipped step) so one bad batch cannot poison the weights. The backward runs either way:
    deciding on the host whether to run it would make the host wait for a GPU."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    return step_unless(opt, torch.isfinite(loss).logical_not())


class _DeviceStreak:
    """Skipped-step counts of minibatches whose count is a device tensor, kept on that device
    until `read`: the total, the current run of minibatches with a skipped step, and the
    longest run since the last read."""

    def __init__(self) -> None:
        self._counts: torch.Tensor | None = None  # [total, streak, longest] on the device

    def add(self, skipped: torch.Tensor, streak: int) -> None:
        if self._counts is None:  # continue the streak the host knows of
            self._counts = torch.tensor([0, streak, streak], device=skipped.device)
        total, current, longest = self._counts.unbind()
        hit = (skipped > 0).to(current.dtype)
        current = (current + 1) * hit
        total = total + skipped.to(total.dtype)
        self._counts = torch.stack([total, current, torch.maximum(longest, current)])

    def read(self) -> tuple[int, int, int] | None:
        """(total, streak, longest) since the last read, or None if nothing was added."""
        if self._counts is None:
            return None
        total, current, longest = (int(v) for v in self._counts.tolist())
        self._counts = None
        return total, current, longest


def step_unless(opt: torch.optim.Optimizer, skip: torch.Tensor) -> torch.Tensor:
    """`opt.step()` unless the 0-dim bool `skip` is true; returns `skip` as 0 or 1 (float32).

    A fused optimiser (torch.optim.Adam(fused=True)) takes the decision on the device, as it
    does under AMP's GradScaler: its kernel leaves weights and moments alone and undoes its step
    count where `found_inf` is non-zero, so the host never waits for the device to learn
    whether a loss was finite. Others read `skip` (a device sync on a GPU).
    """
    flag = skip.to(torch.float32)
    if opt.defaults.get("fused"):
        opt.found_inf = flag  # type: ignore[attr-defined]  # read by Optimizer.step
        try:
            opt.step()
        finally:
            opt.found_inf = None  # type: ignore[attr-defined]
    elif not skip.item():
        opt.step()
    return flag


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------------
# Starting and resuming runs


@dataclass(frozen=True)
class Family:
    """How the generic entry points start one model family.

    `open_data(cfg)` opens (and checks) the data; `check(cfg, data)` fails on bad settings
    before a run folder exists; `build_step(cfg, data, device)` builds the step (the torch seed
    is set just before); `run_name(cfg)` names the run folder; `prepare(step, cfg)` runs once
    on the step of a new run, before its first minibatch (not on resume): fine-tuning copies the
    source's weights there (training/finetune.py).
    """

    kind: str
    title: str  # how messages name it: "StyleGAN", "CycleGAN"
    config_cls: type
    open_data: Callable[[Any], Any]
    build_step: Callable[[Any, Any, torch.device], TrainingStep]
    run_name: Callable[[Any], str]
    check: Callable[[Any, Any], None] = lambda cfg, data: None
    backend: Callable[[Any], str | None] = lambda cfg: None
    prepare: Callable[[Any, Any], None] = lambda step, cfg: None

    def __post_init__(self) -> None:
        FAMILIES[self.kind] = self


FAMILIES: dict[str, Family] = {}  # kind -> family, filled as family modules are imported


def new_step(family: Family, cfg: Any, data: Any = None) -> TrainingStep:
    """Build a family's step for `cfg` as a run would (threads, device, torch seed), without a
    run folder: for benchmarks and tests that drive `train_step` themselves."""
    cfg = cfg.resolved()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = distributed.process_device(cfg.device)
    prepare_for_training(device)
    torch.manual_seed(cfg.seed)
    return family.build_step(cfg, family.open_data(cfg) if data is None else data, device)


def start_run(family: Family, cfg: Any, progress: ProgressFn | None = None) -> Path | None:
    """Check the data and settings, create a numbered run folder, train; returns the final
    snapshot. Nothing is left behind when the data or settings are bad, or when the run fails
    before its first step."""
    cfg = cfg.resolved()
    check_device(cfg.device)
    with distributed.session(cfg.device, family.backend(cfg)):
        data = family.open_data(cfg)
        family.check(cfg, data)
        run_dir = distributed.rank0_call(lambda: _create_run(family, cfg))
        trainer = None
        try:
            with _locked(run_dir):
                step = new_step(family, cfg, data)
                family.prepare(step, cfg)
                trainer = Trainer(step, cfg, run_dir, progress)
                return trainer.run()
        except BaseException:
            if distributed.info().is_main and (trainer is None or trainer.batch_idx == 0):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def _create_run(family: Family, cfg: Any) -> Path:
    run_dir = runs.create_run_dir(cfg.outdir, family.run_name(cfg))
    runs.write_options(run_dir, family.kind, config_to_dict(cfg))
    log.info("run folder %s", run_dir)
    return run_dir


def read_run_config(family: Family, run_dir: Path, other_hint: str = "") -> Any:
    """The family config of a run folder; UserError when it belongs to another family."""
    kind, values = runs.read_options(run_dir)
    if kind != family.kind:
        other = FAMILIES[kind].title if kind in FAMILIES else repr(kind)
        raise UserError(
            f"--resume {run_dir} is a {other} run, not a {family.title} run{other_hint}"
        )
    try:
        return config_from_dict(family.config_cls, values, source=str(run_dir / runs.OPTIONS_FILE))
    except TypeError as exc:
        raise UserError(
            f"{run_dir / runs.OPTIONS_FILE} is damaged ({exc}); start a new run"
        ) from None


def resume_run(
    family: Family,
    run_dir: str | Path,
    cfg: Any,
    progress: ProgressFn | None = None,
) -> Path | None:
    """Continue `run_dir` from its newest snapshot with `cfg` (its options, maybe changed)."""
    run_dir = Path(run_dir)
    cfg = dataclasses.replace(cfg).resolved()
    try:
        check_device(cfg.device)
    except UserError as exc:  # e.g. a run started on a GPU machine, resumed on a laptop
        raise UserError(
            f"{exc} (the run trains on {cfg.device}; --device cpu with --resume continues it on "
            "this machine's CPU)"
        ) from None
    with distributed.session(cfg.device, family.backend(cfg)):
        snap = distributed.rank0_call(lambda: _resume_snapshot(run_dir))
        with _locked(run_dir):
            trainer = Trainer(new_step(family, cfg), cfg, run_dir, progress)
            trainer.load_state_dict(_load_state(snap))
            if trainer.main:
                runs.clean_leftovers(run_dir)
                runs.truncate_logs(run_dir, trainer.cur_nimg / 1000)
                _record_resumed_options(family, run_dir, cfg)
            log.info("resumed %s from %s at kimg %.3f", run_dir, snap.name, trainer.cur_nimg / 1000)
            return trainer.run()


def _record_resumed_options(family: Family, run_dir: Path, cfg: Any) -> None:
    """training_options.json takes the options this resume changed (--kimg, --device, ...), so
    the next --resume continues as this one does: a run moved from a GPU machine to a CPU one
    stays there, and a raised --kimg is not lost when the resumed run is interrupted again."""
    _, before = runs.read_options(run_dir)
    after = json.loads(json.dumps(config_to_dict(cfg)))  # as the file holds it: lists, not tuples
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    if changed:
        runs.write_options(run_dir, family.kind, after)
        log.info(
            "%s now records %s",
            runs.OPTIONS_FILE,
            ", ".join(f"{k} {before.get(k)!r} -> {v!r}" for k, v in sorted(changed.items())),
        )


def _resume_snapshot(run_dir: Path) -> Path:
    snap = runs.latest_snapshot(run_dir)
    if snap is None:
        raise UserError(f"run {run_dir} has no complete snapshot yet; start it again instead")
    return snap


def _load_state(snap: Path) -> dict[str, Any]:
    """The snapshot's training state, read without executing anything; one line if damaged."""
    path = snap / runs.STATE_FILE
    try:
        # On the CPU: RNG states must stay there; tensors move to their modules' devices.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickled code refused by weights_only, ...
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{path} cannot be read ({reason}); delete {snap.name} to resume from the "
            "snapshot before it"
        ) from None


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """The run lock, held by rank 0 (the process that writes the run's files); every rank gets
    the refusal when another process holds it."""
    distributed.rank0_call(lambda: runs.acquire_lock(run_dir))
    try:
        yield
    finally:
        if distributed.info().is_main:
            runs.release_lock(run_dir)
