"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal_sessions.api_gateway import page_locales


@pytest.fixture
def team_catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty catalog folder in place of the shipped one, as a team would fill it."""
    monkeypatch.setattr(page_locales, "CATALOG_DIR", tmp_path)
    page_locales.clear_catalog_cache()
    yield tmp_path
    page_locales.clear_catalog_cache()
