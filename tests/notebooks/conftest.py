"""Fixtures of the notebook tests (see :mod:`tests.notebooks.running`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.notebooks import running


@pytest.fixture(scope="session")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], running.Run]:
    """``executed(name)``: notebook ``name`` run top to bottom, once per session."""
    return lambda name: running.executed(name, tmp_path_factory)
