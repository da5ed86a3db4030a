"""The family table (training/families.py) and how `stylegen train` uses it: --arch picks the
family, other families' config fields become flags, foreign flags are refused, resume by kind;
every family's --minutes budget and its step on a stand-in GPU (the meta device)."""

import dataclasses
import importlib
from dataclasses import dataclass, field

import pytest
import torch

from stylegen.commands import build_parser
from stylegen.commands import train as train_command
from stylegen.errors import UserError
from stylegen.training import families, trainer
from stylegen.training.stylegan import train
from stylegen.training.stylegan_config import TrainConfig


@dataclass
class ToyConfig:
    """A stand-in family config: the fields the trainer reads plus two of its own."""

    data: str
    outdir: str = "runs"
    preset: str = "toy"
    kimg: float = 1.0
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    snap: int = 5
    beta_kl: float = field(default=1.0, metadata={"help": "weight of the KL term"})
    binary: bool = False


TOY = families.FamilyEntry(
    kind="toy",
    title="Toy",
    arches=("toy", "toy2"),
    config=f"{__name__}:ToyConfig",
    module=__name__,
)


@pytest.fixture
def with_toy(monkeypatch):
    monkeypatch.setattr(families, "FAMILY_TABLE", (*families.FAMILY_TABLE, TOY))


def test_arch_names_find_their_family():
    assert families.for_arch(None).kind == "stylegan"
    assert families.for_arch("stylegan3-t").config_class() is TrainConfig
    assert "stylegan2" in families.all_arches()
    with pytest.raises(UserError, match="unknown --arch 'stylegan9'; choose one of: stylegan2"):
        families.for_arch("stylegan9")
    with pytest.raises(UserError, match="does not know training family 'alien'"):
        families.for_kind("alien")


def test_other_families_fields_become_flags_and_foreign_flags_are_refused(with_toy):
    parser = build_parser()
    args = parser.parse_args(["train", "--data", "d", "--arch", "toy", "--beta-kl", "4"])
    cfg = train_command.make_config(args, "cpu")
    assert isinstance(cfg, ToyConfig) and cfg.beta_kl == 4.0 and cfg.preset == "toy"
    args = parser.parse_args(["train", "--data", "d", "--arch", "toy", "--binary"])
    assert train_command.make_config(args, "cpu").binary is True
    # A StyleGAN flag on the toy family, and a toy flag on StyleGAN: one line each.
    args = parser.parse_args(["train", "--data", "d", "--arch", "toy", "--gamma", "1"])
    with pytest.raises(UserError, match="--gamma does not apply to --arch toy; leave it out"):
        train_command.make_config(args, "cpu")
    args = parser.parse_args(["train", "--data", "d", "--beta-kl", "2"])
    with pytest.raises(UserError, match="--beta-kl does not apply to StyleGAN"):
        train_command.make_config(args, "cpu")
    # Flags left alone are not "set": StyleGAN still gets its own defaults.
    cfg = train_command.make_config(parser.parse_args(["train", "--data", "d"]), "cpu")
    assert isinstance(cfg, TrainConfig) and cfg.preset == "cpu32"
    assert (
        "weight of the KL term"
        in parser._subparsers._group_actions[0].choices["train"].format_help()
    )


def test_resume_by_kind_refuses_fields_the_run_does_not_have(tmp_path):
    cfg = TrainConfig(
        data="fashion-mnist", preset="tiny", kimg=0.016, max_size=64, outdir=str(tmp_path)
    )
    run = train(cfg).parent
    with pytest.raises(UserError, match="--epochs does not apply to a StyleGAN run"):
        families.resume(run, epochs=3)
    with pytest.raises(UserError, match="is a StyleGAN run; continue it with `stylegen train"):
        families.resume(run, command="stylegen cyclegan train")
    snap = families.resume(run, kimg=0.032)
    assert snap.name == "snapshot-000000.032"
    assert dataclasses.asdict(cfg)["preset"] == "tiny"


# Every family, tiny and long enough (1 kimg) that only the budget can end it early.
BUDGET_CONFIGS = {
    "stylegan": dict(data="fashion-mnist", preset="tiny", max_size=64, kimg=1.0),
    "baseline": dict(data="fashion-mnist", arch="dcgan", preset="tiny", max_size=64, kimg=1.0),
    "progressive": dict(
        data="fashion-mnist", arch="progan", preset="tiny", max_size=32, kimg=1.0, tick_kimg=0.016
    ),
    "sr": dict(data="fashion-mnist", arch="espcn", preset="tiny", max_size=32, kimg=1.0),
    "cyclegan": dict(
        data_a="fashion-mnist:sneaker",
        data_b="fashion-mnist:ankle-boot",
        preset="tiny",
        max_size=8,
        epochs=100,
    ),
}


@pytest.mark.parametrize("entry", families.FAMILY_TABLE, ids=lambda e: e.kind)
def test_every_family_stops_at_its_minutes_budget(tmp_path, fake_clock, entry):
    # 6 s per clock reading and a 0.25-minute budget: spent within a few minibatches, long
    # before the run's full length; the snapshot is written as at the end of a run.
    fake_clock(6.0)
    cfg = entry.config_class()(
        outdir=str(tmp_path / "runs"), threads=1, minutes=0.25, **BUDGET_CONFIGS[entry.kind]
    )
    snap = entry.train_fn()(cfg)
    kimg = float(snap.name.split("-")[1])
    assert 0 < kimg < 0.1, snap.name
    with pytest.raises(UserError, match="--minutes -1 must be > 0"):
        dataclasses.replace(cfg, minutes=-1).resolved()


# Each family's step in the variants whose code paths differ; StyleGAN2 also with the
# augmentations running (p fixed above zero; on a GPU over the whole batch, mask-picked).
DEVICE_VARIANTS = {
    "stylegan2": ("stylegan", dict(pl_weight=2.0)),
    "stylegan2-shared-fakes": ("stylegan", dict(shared_fakes=True)),
    "stylegan2-augmented": ("stylegan", dict(aug="fixed", aug_p=0.5)),
    "stylegan3-t": ("stylegan", dict(arch="stylegan3-t")),
    **{arch: ("baseline", dict(arch=arch)) for arch in ("gan", "dcgan", "cgan", "vae")},
    "progan": ("progressive", {}),
    "espcn": ("sr", {}),
    "cyclegan": ("cyclegan", {}),
}


@pytest.mark.parametrize("variant", DEVICE_VARIANTS)
def test_training_steps_stay_on_the_device_and_never_wait_for_it(monkeypatch, variant):
    # No GPU in CI: the "meta" device stands in for one. Mixing a meta tensor with a CPU one
    # raises as CUDA does, and reading a value (bool, item, tolist: what makes the host wait
    # for a GPU) raises too, so three minibatches run through only if every tensor stays on the
    # step's device and nothing is read back: finite checks and skipped-step counts stay on it
    # (torch's fused Adam skips a bad step there; its device check is let through for meta).
    # Minibatch 0 runs the lazy regularisers. The fourth is ADA's adjustment, which reads its
    # statistics once per 4-minibatch interval as the official code does: reads may return
    # zeros there.
    monkeypatch.setattr(trainer, "FUSED_ADAM_DEVICES", ("cpu", "cuda", "meta"))
    allow = lambda *args, **kwargs: None  # noqa: E731
    adam_module = importlib.import_module("torch.optim.adam")
    monkeypatch.setattr(adam_module, "_device_dtype_check_for_fused", allow)
    kind, extra = DEVICE_VARIANTS[variant]
    entry = families.for_kind(kind)
    cfg = entry.config_class()(outdir="unused", threads=1, **{**BUDGET_CONFIGS[kind], **extra})
    cfg = cfg.resolved()
    family = entry.family()
    torch.manual_seed(0)
    step = family.build_step(cfg, family.open_data(cfg), torch.device("meta"))
    networks = [m for m in vars(step).values() if isinstance(m, torch.nn.Module)]
    optimisers = [o for o in vars(step).values() if isinstance(o, torch.optim.Optimizer)]
    assert optimisers and all(o.defaults["fused"] for o in optimisers)
    skipped = [step.train_step(i * 8, i) for i in range(3)]
    assert all(isinstance(s, torch.Tensor) and s.is_meta for s in skipped)
    item, tolist = torch.Tensor.item, torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "item", lambda t: 0.0 if t.is_meta else item(t))
    monkeypatch.setattr(
        torch.Tensor,
        "tolist",
        lambda t: torch.zeros(t.shape, dtype=t.dtype).tolist() if t.is_meta else tolist(t),
    )
    step.train_step(3 * 8, 3)
    assert networks and all(p.is_meta for m in networks for p in m.parameters())
