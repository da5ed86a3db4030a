"""The baseline families (--arch gan|dcgan|cgan|vae): losses against hand-computed values, D
accuracy bookkeeping, conditional sampling, snapshots and exact resume for each family."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen import runs
from stylegen.checkpoint import load
from stylegen.errors import UserError
from stylegen.generate import generate_images, z_from_seeds
from stylegen.images import float_to_uint8
from stylegen.models.vae import VAE
from stylegen.training import losses
from stylegen.training.baselines import (
    BASELINES,
    EpochBatches,
    d_accuracy,
    train,
    vae_terms,
)
from stylegen.training.baselines_config import BaselineConfig
from stylegen.training.families import resume
from stylegen.training.trainer import new_step

# 'tiny' at batch 8 ticks every 16 images; snap 100: a snapshot only at the end.
BASE = dict(data="fashion-mnist", preset="tiny", max_size=64, snap=100, threads=1)


def _cfg(tmp_path, name: str, **kw) -> BaselineConfig:
    return BaselineConfig(outdir=str(tmp_path / name), **{**BASE, **kw})


# ---------------------------------------------------------------------------------------------
# Losses by hand


def test_gan_losses_are_binary_cross_entropy_by_hand():
    real = torch.tensor([2.0, 0.0, -1.0])
    fake = torch.tensor([-1.0, 0.0, 3.0])
    loss_real, loss_fake = losses.d_logistic_loss(real, fake)
    # -log D(x) and -log(1 - D(G(z))) with D = sigmoid(logit), written out
    sig = [1 / (1 + math.exp(-v)) for v in (2.0, 0.0, -1.0)]
    assert loss_real.tolist() == pytest.approx([-math.log(s) for s in sig], abs=1e-6)
    sig_f = [1 / (1 + math.exp(-v)) for v in (-1.0, 0.0, 3.0)]
    assert loss_fake.tolist() == pytest.approx([-math.log(1 - s) for s in sig_f], abs=1e-6)
    assert loss_real[1].item() == pytest.approx(math.log(2))  # D(x) = 0.5
    # the non-saturating G loss is -log D(G(z))
    g = losses.g_nonsaturating_loss(fake)
    assert g.tolist() == pytest.approx([-math.log(s) for s in sig_f], abs=1e-6)
    # and the same numbers as torch's BCE on probabilities
    bce = torch.nn.functional.binary_cross_entropy(
        torch.sigmoid(real), torch.ones(3), reduction="none"
    )
    assert torch.allclose(loss_real, bce, atol=1e-6)


def test_kl_closed_form_by_hand_and_against_monte_carlo():
    mu = torch.tensor([[1.0, 0.0, -0.5]])
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]])
    # 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)
    hand = 0.5 * ((1 + 1 - 1 - 0) + (0 + 4 - 1 - math.log(4)) + (0.25 + 0.25 - 1 - math.log(0.25)))
    assert losses.gaussian_kl(mu, logvar).item() == pytest.approx(hand, abs=1e-6)
    # E_q[log q(z) - log p(z)] with 400k samples
    q = torch.distributions.Normal(mu[0].double(), torch.exp(0.5 * logvar[0]).double())
    p = torch.distributions.Normal(torch.zeros(3).double(), torch.ones(3).double())
    torch.manual_seed(0)
    z = q.sample(torch.Size([400_000]))
    mc = (q.log_prob(z) - p.log_prob(z)).sum(1).mean().item()
    assert mc == pytest.approx(hand, abs=0.01)
    assert losses.gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).tolist() == [0.0, 0.0]


class _KnownPosterior(VAE):
    """A 'VAE' whose posterior and decoder are fixed: q = N(0.5, 1) over one latent, decoder
    logits = z at every pixel of a 1x8x8 image."""

    def __init__(self) -> None:
        from stylegen.models.vae import VAEConfig

        super().__init__(VAEConfig(z_dim=1, img_resolution=8, channels=1))

    def encode(self, img, c=None):
        n = img.shape[0]
        return torch.full((n, 1), 0.5), torch.zeros(n, 1)

    def decode_logits(self, z, c=None):
        return z[:, :, None, None].expand(-1, 1, 8, 8)


def test_elbo_with_a_known_posterior():
    vae = _KnownPosterior()
    x01 = torch.zeros(1, 1, 8, 8)
    x01.view(-1)[:16] = 1.0  # 16 white pixels, 48 black
    img = x01 * 2 - 1
    eps = torch.tensor([[0.0]])  # z = mu = 0.5
    terms = vae_terms(vae, img, None, eps, "bernoulli")
    p = 1 / (1 + math.exp(-0.5))
    log_lik = 16 * math.log(p) + 48 * math.log(1 - p)
    kl = 0.5 * (0.25 + 1 - 1 - 0)
    assert terms["recon"].item() == pytest.approx(-log_lik, abs=1e-4)
    assert terms["kl"].item() == pytest.approx(kl, abs=1e-6)
    assert terms["elbo"].item() == pytest.approx(log_lik - kl, abs=1e-4)
    # eps = 1: z = 0.5 + 1 * 1 = 1.5
    terms = vae_terms(vae, img, None, torch.tensor([[1.0]]), "gaussian", sigma=0.2)
    m = 1 / (1 + math.exp(-1.5))
    per = [
        -0.5 * ((x - m) / 0.2) ** 2 - math.log(0.2) - 0.5 * math.log(2 * math.pi) for x in (1, 0)
    ]
    log_lik = 16 * per[0] + 48 * per[1]
    assert terms["elbo"].item() == pytest.approx(log_lik - kl, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Bookkeeping


def test_d_accuracy_counts_reals_above_and_fakes_below_one_half():
    real_ok, fake_ok = d_accuracy(
        torch.tensor([[2.0], [-0.1], [0.3]]), torch.tensor([[-4.0], [1.0]])
    )
    assert real_ok.flatten().tolist() == [1.0, 0.0, 1.0]
    assert fake_ok.flatten().tolist() == [1.0, 0.0]


def test_the_step_reports_accuracy_and_d_outputs_of_its_logits(tmp_path):
    step = new_step(BASELINES, _cfg(tmp_path, "acc", arch="dcgan"))
    real_d = step.D.forward
    planned = [  # D's logits per call: reals, fakes, then the G step's fakes
        torch.tensor([[3.0], [1.0], [-2.0], [0.5], [4.0], [-1.0], [2.0], [1.0]]),
        torch.tensor([[-3.0], [1.0], [-2.0], [-0.5], [4.0], [-1.0], [2.0], [-1.0]]),
        torch.zeros(8, 1),
    ] * 2
    calls = []

    def scripted(img, c=None):  # the planned logits, with D's graph for the backward pass
        out = real_d(img, c)
        calls.append(out)
        return planned[len(calls) - 1] + 0 * out

    step.D.forward = scripted
    step.train_step(0, 0)
    step.train_step(8, 1)
    stats = step.stats.tick()
    assert stats["Accuracy/D/real"] == pytest.approx(6 / 8)
    assert stats["Accuracy/D/fake"] == pytest.approx(5 / 8)
    sig = torch.sigmoid(planned[0]).mean().item()
    assert stats["Prob/D_real"] == pytest.approx(sig)
    assert stats["Prob/D_fake"] == pytest.approx(torch.sigmoid(planned[1]).mean().item())
    assert stats["Loss/G/loss"] == pytest.approx(math.log(2))  # D(G(z)) = 0.5 in the G step


def test_epoch_batches_cover_every_image_once_per_epoch():
    class Data:
        def __len__(self):
            return 10

    b = EpochBatches(Data(), 3, seed=0)
    assert b.per_epoch == 3
    epoch0 = [i for k in range(3) for i in b.indices(k)]
    assert len(set(epoch0)) == 9
    assert b.indices(3) != b.indices(0)  # a new order in epoch 1
    assert EpochBatches(Data(), 3, seed=0).indices(4) == b.indices(4)  # a function of (seed, i)


# ---------------------------------------------------------------------------------------------
# Runs


def test_conditional_sampling_follows_the_label(tmp_path):
    snap = train(_cfg(tmp_path, "c", arch="cgan", kimg=0.016))
    G = load(snap)
    assert G.c_dim == 10 and G.z_dim == 8
    a = generate_images(G, [0, 1], class_idx=3)
    b = generate_images(G, [0, 1], class_idx=3, batch_size=1)
    assert torch.equal(a, b)
    assert not torch.equal(a, generate_images(G, [0, 1], class_idx=4))
    c = torch.zeros(2, 10)
    c[:, 3] = 1
    with torch.no_grad():
        assert torch.equal(a, float_to_uint8(G(z_from_seeds([0, 1], 8), c)))
    grid = np.asarray(Image.open(snap / "samples.png"))
    assert grid.shape[:2] == (10 * 32, 8 * 32)  # a row per class
    options = json.loads((snap.parent / runs.OPTIONS_FILE).read_text())
    assert options["kind"] == "baseline" and options["cond"] and options["cond_mode"] == "concat"


def test_run_files_for_the_gan_and_the_vae(tmp_path):
    gan = train(_cfg(tmp_path, "g", arch="gan", kimg=0.016))
    assert (gan.parent / "accuracy.png").stat().st_size > 0
    assert (gan.parent / "losses.png").stat().st_size > 0
    stats = json.loads((gan.parent / "stats.jsonl").read_text().splitlines()[-1])
    assert 0 <= stats["Accuracy/D/real"] <= 1 and 0 <= stats["Prob/D_fake"] <= 1
    vae = train(_cfg(tmp_path, "v", arch="vae", kimg=0.016))
    assert (vae / "reconstructions.png").stat().st_size > 0
    assert not (vae.parent / "accuracy.png").exists()
    stats = json.loads((vae.parent / "stats.jsonl").read_text().splitlines()[-1])
    assert stats["Loss/VAE/elbo"] == pytest.approx(-stats["Loss/VAE/recon"] - stats["Loss/VAE/kl"])
    assert isinstance(load(vae), VAE)


def _state(snap):
    return torch.load(snap / runs.STATE_FILE, weights_only=True)


@pytest.mark.parametrize(
    "arch, extra",
    [
        ("gan", {}),
        ("dcgan", {}),
        ("cgan", {"cond_mode": "projection"}),
        ("vae", {"cond": True, "likelihood": "gaussian"}),
    ],
)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, arch, extra):
    full = train(_cfg(tmp_path, "full", arch=arch, kimg=0.064, **extra))
    half = train(_cfg(tmp_path, "half", arch=arch, kimg=0.032, **extra))
    resumed = resume(half.parent, kimg=0.064)
    assert resumed.name == full.name
    a, b = _state(full), _state(resumed)
    for net in ("vae",) if arch == "vae" else ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    assert torch.equal(a["rng_torch"], b["rng_torch"])


def test_bad_settings_are_one_line(tmp_path):
    with pytest.raises(UserError, match="--beta-kl applies to --arch vae only"):
        _cfg(tmp_path, "x", arch="gan", beta_kl=2.0).resolved()
    with pytest.raises(UserError, match="--cond-mode picks how a GAN discriminator"):
        _cfg(tmp_path, "x", arch="vae", cond_mode="concat").resolved()
    with pytest.raises(UserError, match="unknown --arch 'vqvae'"):
        _cfg(tmp_path, "x", arch="vqvae").resolved()
    cfg = _cfg(tmp_path, "x", arch="cgan").resolved()
    assert cfg.cond and cfg.lr == 2e-4 and cfg.beta1 == 0.5 and cfg.z_dim == 8
    assert cfg.resolved() == cfg
    vae = _cfg(tmp_path, "x", arch="vae").resolved()
    assert (vae.lr, vae.beta1, vae.beta_kl, vae.likelihood) == (1e-3, 0.9, 1.0, "bernoulli")
