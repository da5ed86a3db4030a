"""Packing fakes and reals into one D call (training/pairs.py) and the shared-fakes step that
uses it (training/stylegan.py): same logits and gradients as the separate calls they replace."""

import copy

import pytest
import torch

from stylegen.images import uint8_to_float
from stylegen.models.discriminator import Discriminator, DiscriminatorConfig
from stylegen.training import losses
from stylegen.training.pairs import pack_group, pack_pairs, unpack_pairs
from stylegen.training.stylegan import STYLEGAN
from stylegen.training.stylegan_config import TrainConfig
from stylegen.training.trainer import new_step


def _D(**over) -> Discriminator:
    cfg = dict(channel_base=128, channel_max=16, mapping_layers=2, c_dim=3, img_resolution=8)
    torch.manual_seed(0)
    return Discriminator(DiscriminatorConfig(img_channels=1, **{**cfg, **over}))


@pytest.mark.parametrize("group", [2, 4])
def test_packed_call_gives_the_logits_of_two_calls(group):
    D = _D(mbstd_group_size=group)
    gen = torch.Generator().manual_seed(1)
    a, b = (torch.randn(8, 1, 8, 8, generator=gen) for _ in range(2))
    ca, cb = (torch.eye(3)[torch.randint(3, (8,), generator=gen)] for _ in "ab")
    assert pack_group(D, 8) == group
    logits = D(pack_pairs(a, b, group), pack_pairs(ca, cb, group))
    got_a, got_b = unpack_pairs(logits, group)
    torch.testing.assert_close(got_a, D(a, ca), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_b, D(b, cb), rtol=1e-5, atol=1e-6)
    # Plain concatenation mixes fakes and reals in the minibatch-std groups: a different answer,
    # which is why pack_pairs exists.
    naive_a = D(torch.cat([a, b]), torch.cat([ca, cb]))[:8]
    print((naive_a - D(a, ca)).abs().max())
    assert (naive_a - D(a, ca)).abs().max() > 1e-3


def test_pack_group_refuses_batches_that_would_regroup():
    assert pack_group(_D(mbstd_group_size=4), 8) == 4
    assert pack_group(_D(mbstd_group_size=4), 2) is None  # 2 calls: groups of 2; packed: of 4
    assert pack_group(_D(mbstd_group_size=0), 8) is None  # 0 = the whole batch
    assert pack_group(_D(mbstd_num_channels=0), 8) == 1  # no cross-sample layer


def test_pack_pairs_round_trip_and_bad_shapes():
    a, b = torch.arange(8.0).reshape(8, 1), -torch.arange(8.0).reshape(8, 1)
    packed = pack_pairs(a, b, 4)
    # Group m of a packed batch of 16 viewed as [4, 4]: column m. Columns 0-1 hold a's groups.
    assert packed.reshape(4, 4)[:, :2].flatten().tolist() == a.reshape(4, 2).flatten().tolist()
    got_a, got_b = unpack_pairs(packed, 4)
    assert torch.equal(got_a, a) and torch.equal(got_b, b)
    with pytest.raises(ValueError, match=r"shapes differ, \(8, 1\) vs \(4, 1\)"):
        pack_pairs(a, b[:4], 4)


def _tiny_step(shared_fakes: bool):
    cfg = TrainConfig(
        data="fashion-mnist",
        preset="tiny",
        cond=True,
        max_size=64,
        batch=8,
        aug="none",
        pl_weight=0.0,
        style_mixing_prob=0.0,
        shared_fakes=shared_fakes,
        threads=1,
    )
    torch.manual_seed(0)
    return new_step(STYLEGAN, cfg)


def _record(step):
    """Wrap the step's G pass and its batch source so the test sees what the step used."""
    seen = {"G": []}
    run_G, next_batch = step._run_G, step.shard_batches[0].next

    def record_G(z, c, **kw):
        seen["G"].append((z.clone(), c.clone(), torch.get_rng_state()))
        return run_G(z, c, **kw)

    def record_batch():
        seen["real"] = next_batch()
        return seen["real"]

    step._run_G, step.shard_batches[0].next = record_G, record_batch
    return seen


def test_official_step_runs_two_generator_passes():
    step = _tiny_step(shared_fakes=False)
    seen = _record(step)
    step.train_step(0, 1)
    assert len(seen["G"]) == 2  # Gmain's fakes, then Dmain's from a new z


@pytest.mark.parametrize("batch_idx", [1, 0], ids=["dmain", "dmain+r1"])
def test_shared_fakes_step_matches_its_reference(batch_idx):
    """D steps on one generator pass (fakes and reals in one packed call), then G steps on the
    same fakes against the updated D; checked against a plain re-computation."""
    step = _tiny_step(shared_fakes=True)
    G0, D0 = copy.deepcopy(step.G), copy.deepcopy(step.D)
    seen = _record(step)
    step.train_step(0, batch_idx)
    assert len(seen["G"]) == 1
    z, c, rng = seen["G"][0]
    real_u8, real_c = seen["real"]

    def fakes():
        torch.set_rng_state(rng)  # the same per-pixel noise as the step's pass
        return G0.synthesis(G0.mapping(z, c))

    # D: logistic loss on the fakes and reals, each in its own call, + R1 when due.
    real = uint8_to_float(real_u8).requires_grad_(batch_idx == 0)
    real_logits = D0(real, real_c)
    loss_D = (
        torch.nn.functional.softplus(D0(fakes().detach(), c)).mean()
        + torch.nn.functional.softplus(-real_logits).mean()
    )
    if batch_idx == 0:
        r1 = losses.r1_loss(losses.r1_penalty(real, real_logits), step.cfg.gamma)
        loss_D = loss_D + r1.mean() * step.cfg.r1_interval
    want_D = torch.autograd.grad(loss_D, list(D0.parameters()))
    for (name, p), want in zip(step.D.named_parameters(), want_D):
        torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-6, msg=name)

    # G: the non-saturating loss of the same fakes, scored by D after its step.
    loss_G = torch.nn.functional.softplus(-step.D(fakes(), c)).mean()
    want_G = torch.autograd.grad(loss_G, list(G0.parameters()), allow_unused=True)
    for (name, p), want in zip(step.G.named_parameters(), want_G):
        if want is None:
            assert p.grad is None or not p.grad.any(), name
        else:
            torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-6, msg=name)
