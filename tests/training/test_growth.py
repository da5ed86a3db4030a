"""The progressive-growing schedule on its own: lod, resolution, alpha, minibatch and learning
rates from the number of images, as the official training_schedule computes them."""

import pytest

from stylegen.errors import UserError
from stylegen.training.growth import GrowthSchedule
from stylegen.training.progressive_config import PAPER_BATCH


def test_paper_schedule_1024():
    s = GrowthSchedule(
        resolution=1024,
        batch=4,
        batch_by_res=PAPER_BATCH,
        glr_by_res={1024: 0.0015},
        dlr_by_res={1024: 0.0015},
    )
    assert s.initial_lod == 8 and s.full_resolution_kimg() == 8 * 1200
    st = s.at(0)
    assert (st.lod, st.resolution, st.alpha, st.batch, st.glr) == (8, 4, 1, 128, 0.001)
    assert s.at(599_999).lod == 8  # stable for 600k images
    st = s.at(900_000)  # half-way through fading in 8x8
    assert st.lod == pytest.approx(7.5) and st.resolution == 8 and st.alpha == pytest.approx(0.5)
    assert st.fading and st.batch == 128
    assert s.at(1_200_000).lod == 7 and not s.at(1_200_000).fading
    st = s.at(8 * 1200 * 1000 - 150_000)  # a quarter of the fade of 1024 left
    assert st.resolution == 1024 and st.alpha == pytest.approx(0.75)
    assert (st.batch, st.glr, st.dlr) == (4, 0.0015, 0.0015)
    assert s.at(20_000_000).lod == 0 and s.at(20_000_000).resolution == 1024
    assert s.at(6_000_000).resolution == 128 and s.at(6_000_000).batch == 16


def test_lod_is_continuous_and_monotone():
    s = GrowthSchedule(resolution=32, initial_resolution=8, phase_kimg=2, fade_kimg=3)
    lods = [s.lod(n) for n in range(0, 12000, 50)]
    assert lods[0] == 2 and lods[-1] == 0
    assert all(a >= b for a, b in zip(lods, lods[1:]))
    assert max(a - b for a, b in zip(lods, lods[1:])) <= 50 / 3000 + 1e-12
    # alpha and resolution agree with lod: the block at 32 / 2**floor(lod), alpha 1 - frac.
    for n in (2500, 4000, 7000, 9999):
        st = s.at(n)
        assert st.resolution == 32 >> int(st.lod)
        assert st.alpha == pytest.approx(1 - (st.lod - int(st.lod)))


def test_fixed_resolution_never_grows():
    s = GrowthSchedule(resolution=32, initial_resolution=32, batch=8)
    assert not s.growing and s.full_resolution_kimg() == 0
    assert all(s.at(n).lod == 0 and s.at(n).resolution == 32 for n in (0, 10**6, 10**8))
    assert s.batches() == [8] and s.describe()["growing"] is False


def test_describe_names_what_resume_must_keep():
    a = GrowthSchedule(resolution=32, phase_kimg=2, fade_kimg=2, batch_by_res={4: 16})
    assert (
        a.describe()
        == GrowthSchedule(32, phase_kimg=2, fade_kimg=2, batch_by_res={4: 16}).describe()
    )
    assert (
        a.describe()
        != GrowthSchedule(32, phase_kimg=2, fade_kimg=3, batch_by_res={4: 16}).describe()
    )
    b = GrowthSchedule(32, batch=8, batch_by_res={4: 16})
    assert b.describe()["batch"] == {32: 8, 16: 8, 8: 8, 4: 16} and b.batches() == [8, 16]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(resolution=48), "not reachable by growing"),
        (dict(resolution=32, initial_resolution=6), "not reachable by growing"),
        (dict(resolution=32, initial_resolution=64), "above the data's 32x32"),
        (dict(resolution=32, phase_kimg=0), "must both be > 0"),
        (dict(resolution=32, fade_kimg=-1), "must both be > 0"),
        (dict(resolution=32, batch=0), "must be >= 1"),
    ],
)
def test_bad_schedules_are_refused(kw, message):
    with pytest.raises(UserError, match=message):
        GrowthSchedule(**kw)
