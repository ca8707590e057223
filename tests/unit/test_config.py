"""Config defaults that depend on the machine."""

from __future__ import annotations

import pytest

from shoal import config
from shoal.config import MAX_DEFAULT_WORKERS, Config


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (64, MAX_DEFAULT_WORKERS)])
def test_default_workers_follow_the_usable_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int
) -> None:
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda _pid: set(range(cores)),
                        raising=False)
    assert Config().workers == workers
    assert Config.from_env({}).workers == workers
    assert Config.from_env({"SHOAL_WORKERS": "7"}).workers == 7
