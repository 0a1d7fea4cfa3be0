"""New API keys: the mode and kind their prefix says, and a shape authentication accepts."""

from __future__ import annotations

import re

import pytest

from portal_sessions.domain.auth import new_api_key

SHAPE = re.compile(r"[A-Za-z0-9]{40,48}")  # what follows the prefix: letters and digits, over 230 bits


@pytest.mark.parametrize(
    ("livemode", "restricted", "prefix"),
    [(True, False, "sk_live_"), (False, False, "sk_test_"), (True, True, "rk_live_"), (False, True, "rk_test_")],
)
def test_a_new_key_names_its_mode_and_kind(livemode: bool, restricted: bool, prefix: str) -> None:
    keys = {new_api_key(livemode=livemode, restricted=restricted) for _ in range(20)}

    assert len(keys) == 20
    assert all(key.startswith(prefix) and SHAPE.fullmatch(key.removeprefix(prefix)) for key in keys), keys
