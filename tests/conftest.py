"""Shared pytest setup: fixed threads and seeds so every test is deterministic."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
