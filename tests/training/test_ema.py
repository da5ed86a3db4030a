"""Tests for stylegen.training.ema: the decay formula and the weight update."""

import pytest
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.training.ema import ema_beta, update_ema


def test_ema_beta_without_rampup():
    assert ema_beta(32, 10, None, 0) == pytest.approx(0.5 ** (32 / 10_000))


def test_ema_beta_rampup_caps_half_life():
    # cur_nimg * rampup = 1000 * 0.05 = 50 images < 10 kimg: half-life 50.
    assert ema_beta(32, 10, 0.05, 1000) == pytest.approx(0.5 ** (32 / 50))
    # Late in training the cap is 1e6 * 0.05 = 50000 > 10000: back to ema_kimg.
    assert ema_beta(32, 10, 0.05, 1_000_000) == pytest.approx(0.5 ** (32 / 10_000))


def test_ema_beta_is_a_half_life():
    beta = ema_beta(64, 10, None, 0)
    # After ema_nimg / batch_size steps the old weights' share is one half.
    assert beta ** (10_000 / 64) == pytest.approx(0.5)


def test_ema_beta_zero_half_life_copies():
    assert ema_beta(32, 10, 0.05, 0) == 0.0
    assert ema_beta(32, 0, None, 5000) == 0.0


@pytest.mark.parametrize(("kimg", "rampup", "match"), [(-1, None, "ema_kimg"), (1, -0.1, "rampup")])
def test_ema_beta_rejects_negative(kimg, rampup, match):
    with pytest.raises(UserError, match=match):
        ema_beta(32, kimg, rampup, 0)


class _Net(nn.Module):
    def __init__(self, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(3, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(2, 3, generator=g))
            self.lin.bias.copy_(torch.randn(2, generator=g))
        self.register_buffer("w_avg", torch.randn(4, generator=g))
        self.register_buffer("count", torch.tensor(seed))


def _params(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5, 0.9])
def test_update_ema(beta):
    ema, net = _Net(1), _Net(2)
    before, target = _params(ema), _params(net)
    update_ema(ema, net, beta)
    after = _params(ema)
    for name in ("lin.weight", "lin.bias"):
        expected = target[name] + (before[name] - target[name]) * beta
        if beta in (0.0, 1.0):
            assert torch.equal(after[name], target[name] if beta == 0 else before[name])
        else:
            torch.testing.assert_close(after[name], expected)
    # Buffers are copied whatever beta is.
    assert torch.equal(after["w_avg"], target["w_avg"])
    assert torch.equal(after["count"], target["count"])
    # The source is untouched and no graph was recorded.
    assert all(torch.equal(v, target[k]) for k, v in _params(net).items())
    assert all(p.grad_fn is None for p in ema.parameters())


def test_update_ema_half_is_average():
    ema, net = _Net(3), _Net(4)
    expected = (ema.lin.weight.detach() + net.lin.weight.detach()) / 2
    update_ema(ema, net, 0.5)
    torch.testing.assert_close(ema.lin.weight.detach(), expected)


def test_update_ema_rejects_different_modules():
    with pytest.raises(ValueError, match="names differ"):
        update_ema(nn.Linear(3, 2), nn.Sequential(nn.Linear(3, 2)), 0.5)
