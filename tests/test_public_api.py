"""The public API in stylegen/__init__.py: every advertised name resolves, and one walk through
train -> load -> generate uses nothing else."""

import pytest

import stylegen


@pytest.mark.parametrize("name", sorted(set(stylegen.__all__) - {"__version__"}))
def test_every_public_name_resolves(name):
    assert getattr(stylegen, name) is not None


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        stylegen.trian  # noqa: B018


def test_train_load_generate_through_the_public_api(tmp_path):
    cfg = stylegen.TrainConfig(
        data="fashion-mnist", preset="tiny", kimg=0.016, max_size=64, outdir=str(tmp_path)
    )
    snap = stylegen.train(cfg)
    G = stylegen.load(snap.parent)
    images = stylegen.generate_images(G, [0, 1])
    assert images.shape == (2, 1, 32, 32) and str(images.dtype) == "torch.uint8"
    with pytest.raises(stylegen.UserError, match="is not a run folder"):
        stylegen.resume(tmp_path)
