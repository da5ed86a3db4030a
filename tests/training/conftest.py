"""Fixtures shared by the training tests: a fake clock for the trainer's --minutes budget."""

import pytest

from stylegen.training import trainer


class FakeClock:
    """time.time for the trainer: each reading is `step` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1_000_000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def fake_clock(monkeypatch):
    """Call with seconds per reading: the trainer's clock then advances that much per reading."""

    def install(step: float) -> FakeClock:
        clock = FakeClock(step)
        monkeypatch.setattr(trainer.time, "time", clock)
        return clock

    return install
