"""Tests for stylegen.training.losses against hand-computed values and float64 naive loops."""

import math

import pytest
import torch

from stylegen.errors import UserError
from stylegen.training.losses import (
    cycle_loss,
    d_logistic_loss,
    g_nonsaturating_loss,
    identity_loss,
    lazy_reg_params,
    lsgan_loss,
    path_length_penalty,
    r1_loss,
    r1_penalty,
    style_mixing_ws,
)

LN3 = math.log(3.0)


# --- logistic losses ---------------------------------------------------------------------------


def test_g_nonsaturating_loss_hand_values():
    logits = torch.tensor([0.0, LN3, -100.0])
    # softplus(-l) = log(1 + exp(-l)): log 2, log(1 + 1/3), and ~100 without overflow.
    expected = torch.tensor([math.log(2.0), math.log(4.0 / 3.0), 100.0])
    torch.testing.assert_close(g_nonsaturating_loss(logits), expected)


def test_d_logistic_loss_hand_values():
    real = torch.tensor([0.0, LN3])
    fake = torch.tensor([0.0, LN3])
    loss_real, loss_fake = d_logistic_loss(real, fake)
    # -log(sigmoid(l)) and -log(1 - sigmoid(l)); sigmoid(ln 3) = 3/4.
    torch.testing.assert_close(loss_real, torch.tensor([math.log(2.0), -math.log(0.75)]))
    torch.testing.assert_close(loss_fake, torch.tensor([math.log(2.0), -math.log(0.25)]))


def test_d_logistic_loss_keeps_per_sample_shape():
    loss_real, loss_fake = d_logistic_loss(torch.zeros(5, 1), torch.zeros(3, 1))
    assert loss_real.shape == (5, 1) and loss_fake.shape == (3, 1)


# --- R1 ----------------------------------------------------------------------------------------


def test_r1_penalty_linear_discriminator_is_squared_weight_norm():
    torch.manual_seed(0)
    a = torch.randn(2, 3, 4, requires_grad=True)
    x = torch.randn(5, 2, 3, 4, requires_grad=True)
    logits = (x * a).flatten(1).sum(1, keepdim=True)  # D(x) = sum(a * x), gradient a
    penalty = r1_penalty(x, logits)
    expected = a.detach().square().sum().expand(5)
    torch.testing.assert_close(penalty, expected)
    # create_graph=True: d/da sum_n ||a||^2 = 2 * N * a reaches D's "weights".
    penalty.sum().backward()
    torch.testing.assert_close(a.grad, 2 * 5 * a.detach())


def test_r1_penalty_is_per_sample():
    # D(x) = sum(a * x^2): gradient 2 a x, so each sample gets its own norm.
    a = torch.tensor([[[1.0, 2.0]]])
    x = torch.tensor([[[[1.0, 1.0]]], [[[3.0, -1.0]]]], requires_grad=True)
    logits = (a * x.square()).flatten(1).sum(1)
    penalty = r1_penalty(x, logits)
    # sample 0: (2*1*1)^2 + (2*2*1)^2 = 4 + 16; sample 1: (2*1*3)^2 + (2*2*-1)^2 = 36 + 16
    torch.testing.assert_close(penalty, torch.tensor([20.0, 52.0]))


def test_r1_penalty_needs_requires_grad():
    x = torch.randn(2, 1, 2, 2)
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(x, x.sum((1, 2, 3)))


def test_r1_loss_weight_is_half_gamma():
    torch.testing.assert_close(r1_loss(torch.tensor([2.0, 4.0]), 10.0), torch.tensor([10.0, 20.0]))


# --- path length -------------------------------------------------------------------------------


def _linear_generator(N=3, num_ws=4, w_dim=5, C=2, H=3, W=4, seed=0):
    """img = sum_k ws[:, k] @ A[k], reshaped to [N, C, H, W]; its Jacobian is known exactly."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(num_ws, w_dim, C * H * W, generator=g).requires_grad_(True)  # G's "weights"
    ws = torch.randn(N, num_ws, w_dim, generator=g).requires_grad_(True)
    img = torch.einsum("nkd,kdp->np", ws, A).reshape(N, C, H, W)
    return A, ws, img


def _naive_lengths(A, noise):
    """float64 loop: length_n = sqrt(mean_k ||A[k] @ y_n||^2)."""
    A = A.detach().double()
    N = noise.shape[0]
    num_ws = A.shape[0]
    out = []
    for n in range(N):
        y = noise[n].double().flatten()
        total = 0.0
        for k in range(num_ws):
            v = A[k] @ y  # gradient of <img_n, y> w.r.t. ws[n, k]
            total += float((v * v).sum())
        out.append(math.sqrt(total / num_ws))
    return torch.tensor(out, dtype=torch.float64)


def test_path_length_penalty_matches_naive_loop():
    A, ws, img = _linear_generator()
    pl_mean, decay = 0.5, 0.1
    penalty, new_mean, lengths = path_length_penalty(
        img, ws, pl_mean, decay=decay, generator=torch.Generator().manual_seed(123)
    )
    # The documented noise: randn(img.shape) from the generator, divided by sqrt(H * W).
    noise = torch.randn(img.shape, generator=torch.Generator().manual_seed(123)) / math.sqrt(12)
    ref_lengths = _naive_lengths(A, noise)
    ref_mean = pl_mean + decay * (float(ref_lengths.mean()) - pl_mean)
    ref_penalty = (ref_lengths - ref_mean) ** 2
    torch.testing.assert_close(lengths.double(), ref_lengths, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(float(new_mean), ref_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(penalty.double(), ref_penalty, rtol=1e-4, atol=1e-6)
    assert not new_mean.requires_grad
    # create_graph=True: the penalty trains G's weights.
    penalty.sum().backward()
    assert A.grad is not None and A.grad.abs().sum() > 0


def test_path_length_identity_generator_gives_noise_norm():
    # One w, img = w reshaped: J = I, so each length is exactly ||y_n||.
    ws = torch.randn(2, 1, 16).requires_grad_(True)
    img = ws.reshape(2, 1, 4, 4)
    _, new_mean, lengths = path_length_penalty(
        img, ws, torch.tensor(0.0), decay=1.0, generator=torch.Generator().manual_seed(7)
    )
    noise = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(7)) / 4.0
    torch.testing.assert_close(lengths, noise.flatten(1).norm(dim=1))
    torch.testing.assert_close(new_mean, lengths.mean().detach())  # decay 1 jumps to the batch mean


def test_path_length_generator_makes_noise_reproducible():
    _, ws, img = _linear_generator()
    runs = [
        path_length_penalty(img, ws, 0.0, generator=torch.Generator().manual_seed(s))[2]
        for s in (1, 1, 2)
    ]
    torch.testing.assert_close(runs[0], runs[1])
    assert not torch.allclose(runs[0], runs[2])


def test_path_length_rejects_bad_decay():
    _, ws, img = _linear_generator()
    with pytest.raises(UserError, match="pl_decay=1.5"):
        path_length_penalty(img, ws, 0.0, decay=1.5)


# --- style mixing ------------------------------------------------------------------------------


NUM_WS, W_DIM = 6, 3


def _mapping(calls):
    def mapping_fn(z, c):
        calls.append((z, c))
        # Broadcast z over num_ws so each row of ws tells which z it came from.
        return z[:, None, :].repeat(1, NUM_WS, 1)

    return mapping_fn


def test_style_mixing_prob_zero_leaves_ws_unchanged():
    calls = []
    z = torch.randn(4, W_DIM)
    c = torch.zeros(4, 0)
    ws = _mapping([])(z, c)
    out = style_mixing_ws(_mapping(calls), z, c, ws, prob=0.0)
    assert out is ws
    assert calls == []


def test_style_mixing_prob_one_replaces_columns_after_cutoff():
    cutoffs = set()
    for seed in range(40):
        calls = []
        z = torch.randn(4, W_DIM, generator=torch.Generator().manual_seed(1000 + seed))
        c = torch.eye(4)
        ws = _mapping([])(z, c)
        ws_before = ws.clone()
        out = style_mixing_ws(
            _mapping(calls), z, c, ws, prob=1.0, generator=torch.Generator().manual_seed(seed)
        )
        assert len(calls) == 1 and calls[0][1] is c  # labels passed through
        z2 = calls[0][0]
        torch.testing.assert_close(ws, ws_before)  # not modified in place
        differs = (out != ws).any(dim=2).any(dim=0)  # per ws index
        cutoff = int(differs.float().argmax())
        assert 1 <= cutoff <= NUM_WS - 1
        torch.testing.assert_close(out[:, :cutoff], ws[:, :cutoff])
        torch.testing.assert_close(out[:, cutoff:], z2[:, None, :].expand(-1, NUM_WS - cutoff, -1))
        cutoffs.add(cutoff)
    # Cutoffs are drawn from [1, num_ws - 1], one per batch; 40 draws hit all 5 values.
    assert cutoffs == set(range(1, NUM_WS))


def test_style_mixing_probability_is_per_batch():
    z = torch.randn(2, W_DIM)
    ws = _mapping([])(z, None)
    mixed = 0
    trials = 400
    for seed in range(trials):
        out = style_mixing_ws(
            _mapping([]), z, None, ws, prob=0.25, generator=torch.Generator().manual_seed(seed)
        )
        mixed += out is not ws
    # Binomial(400, 0.25): mean 100, std ~8.7; +-5 std.
    assert 56 < mixed < 144


def test_style_mixing_rejects_bad_prob():
    z = torch.randn(2, W_DIM)
    with pytest.raises(UserError, match="style_mixing_prob=1.5"):
        style_mixing_ws(_mapping([]), z, None, _mapping([])(z, None), prob=1.5)


# --- lazy regularisation -----------------------------------------------------------------------


def test_lazy_reg_params_numbers():
    lr, betas = lazy_reg_params(0.0025, (0.0, 0.99), 16)
    ratio = 16 / 17
    assert lr == pytest.approx(0.0025 * ratio)
    assert betas == pytest.approx((0.0, math.exp(ratio * math.log(0.99))))
    lr, betas = lazy_reg_params(0.002, [0.5, 0.9], 4)
    assert lr == pytest.approx(0.0016)
    assert betas == pytest.approx((0.5**0.8, 0.9**0.8))
    assert isinstance(betas, tuple)


@pytest.mark.parametrize("interval", [0, -1, 2.5, True])
def test_lazy_reg_params_rejects_bad_interval(interval):
    with pytest.raises(UserError, match="reg_interval"):
        lazy_reg_params(0.002, (0.0, 0.99), interval)


# --- CycleGAN losses ---------------------------------------------------------------------------


def test_lsgan_loss_hand_values():
    pred = torch.tensor([0.5, 1.5])
    assert float(lsgan_loss(pred, True)) == pytest.approx((0.25 + 0.25) / 2)
    assert float(lsgan_loss(pred, False)) == pytest.approx((0.25 + 2.25) / 2)


def test_cycle_and_identity_loss_are_l1_mean():
    a = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    b = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert float(cycle_loss(a, b)) == pytest.approx((1 + 2 + 0 + 2) / 4)
    assert float(identity_loss(a, b)) == pytest.approx((1 + 2 + 0 + 2) / 4)
