"""History image pool (Shrivastava et al. 2017): fill, swap rule, off switch, exact state."""

import io

import pytest
import torch

from stylegen.errors import UserError
from stylegen.training.image_pool import ImagePool


def _batch(start: int, n: int = 4) -> torch.Tensor:
    # Image i is filled with the value i, so outputs can be traced to their source.
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2)


def _ids(images: torch.Tensor) -> list[int]:
    return [int(x) for x in images[:, 0, 0, 0]]


def test_pool_returns_inputs_while_filling():
    pool = ImagePool(size=6)
    assert _ids(pool.query(_batch(0))) == [0, 1, 2, 3]
    assert len(pool) == 4
    out = _ids(pool.query(_batch(4)))
    assert out[:2] == [4, 5]  # stored while there was room
    # 6 and 7 met a full pool: each came back itself or as an image stored before it.
    assert all(got == sent or got < sent for got, sent in zip(out[2:], [6, 7]))
    assert len(pool) == 6


def test_full_pool_returns_current_or_history_and_swaps():
    pool = ImagePool(size=50, seed=3)
    pool.query(_batch(0, 50))
    seen_old = seen_new = 0
    for step in range(1, 41):
        new = _batch(step * 100, 5)
        out = _ids(pool.query(new))
        for got, sent in zip(out, _ids(new)):
            if got == sent:
                seen_new += 1
            else:
                seen_old += 1
                assert got < sent  # stored before it (earlier batch, or earlier in this one)
        assert len(pool) == 50
    # 200 draws with p = 1/2: far outside [60, 140] would mean a broken coin (p < 1e-8).
    assert 60 < seen_new < 140 and seen_old + seen_new == 200
    stored = set(_ids(torch.stack(pool.images)))
    assert len(stored) == 50 and any(i >= 100 for i in stored)


def test_size_zero_is_off_and_negative_is_an_error():
    pool = ImagePool(size=0)
    x = _batch(0)
    assert torch.equal(pool.query(x), x) and len(pool) == 0
    with pytest.raises(UserError, match="pool size -1"):
        ImagePool(size=-1)


def test_state_dict_round_trip_continues_identically():
    a = ImagePool(size=4, seed=1)
    for s in range(3):
        a.query(_batch(10 * s))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = ImagePool(size=4, seed=99)
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    for s in range(3, 8):
        assert torch.equal(a.query(_batch(10 * s)), b.query(_batch(10 * s)))
    empty = ImagePool(size=4)
    fresh = ImagePool(size=4)
    fresh.load_state_dict(empty.state_dict())
    assert len(fresh) == 0
