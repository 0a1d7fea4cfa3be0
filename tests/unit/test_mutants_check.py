"""`make mutants` fails on a survivor nobody explained: what a mutant changed is read from mutmut's mutated module,
and an explanation counts only for the change it was written for (mutmut renumbers a function's mutants when the
function changes)."""

from __future__ import annotations

import tomllib

from benchmarks.mutants import EXPLAINED, TARGETS, Verdict, as_toml, change_of, judge, modules_without_mutants

# mutmut's mutated module, as it writes it: each mutant of a function beside the original
MUTATED = """
def x_seal__mutmut_orig(plaintext: str) -> str:
    data = plaintext.encode("utf-8")
    return data.hex()


def x_seal__mutmut_1(plaintext: str) -> str:
    data = plaintext.encode("UTF-8")
    return data.hex()


def x_seal__mutmut_2(plaintext: str) -> str:
    data = None
    return data.hex()


def x_seal__mutmut_3(plaintext: str) -> str:
    return data.hex()


def x_seal__mutmut_4(plaintext: bytes) -> str:
    data = plaintext.encode("utf-8")
    return data.hex()


class Store:
    def xǁStoreǁput__mutmut_orig(self, item: dict[str, str]) -> None:
        self.write(item, condition="attribute_not_exists(pk)")

    def xǁStoreǁput__mutmut_1(self, item: dict[str, str]) -> None:
        self.write(item, condition="XXattribute_not_exists(pk)XX")
"""


def test_a_mutants_change_is_the_line_it_adds_or_the_one_it_removes() -> None:
    assert change_of(MUTATED, "portal_sessions.domain.sealing.x_seal__mutmut_1") == 'data = plaintext.encode("UTF-8")'
    assert change_of(MUTATED, "portal_sessions.domain.sealing.x_seal__mutmut_2") == "data = None"
    assert change_of(MUTATED, "portal_sessions.domain.sealing.x_seal__mutmut_3") == (
        'removed: data = plaintext.encode("utf-8")'
    )
    assert change_of(MUTATED, "portal_sessions.domain.sealing.x_seal__mutmut_4") == "def seal(plaintext: bytes) -> str:"
    assert change_of(MUTATED, "portal_sessions.store.x.xǁStoreǁput__mutmut_1") == (
        'self.write(item, condition="XXattribute_not_exists(pk)XX")'
    )


def test_only_a_survivor_explained_for_its_own_change_passes() -> None:
    explained = {
        "m.x_seal__mutmut_1": {"change": 'data = plaintext.encode("UTF-8")', "reason": "equivalent"},
        "m.x_seal__mutmut_2": {"change": "data = plaintext.hex()", "reason": "written for another mutant"},
        "m.x_seal__mutmut_9": {"change": "anything", "reason": "killed since"},
    }
    found = {
        "m.x_seal__mutmut_1": 'data = plaintext.encode("UTF-8")',
        "m.x_seal__mutmut_2": "data = None",
        "m.x_seal__mutmut_3": "removed: data = 1",
    }
    by_status = {"survived": list(found), "killed": ["m.x_seal__mutmut_9"], "not checked": ["m.x_seal__mutmut_4"]}

    verdict = judge(by_status, found, explained)

    assert verdict.unexplained == {"m.x_seal__mutmut_3": "removed: data = 1"}
    assert verdict.changed == {"m.x_seal__mutmut_2": ("data = plaintext.hex()", "data = None")}
    assert verdict.stale == ["m.x_seal__mutmut_9"]
    assert verdict.unchecked == ["m.x_seal__mutmut_4"]
    one = "m.x_seal__mutmut_1"
    everything_explained = judge({"survived": [one]}, {one: found[one]}, {one: explained[one]})
    assert everything_explained == Verdict({}, {}, [], [])


def test_the_line_printed_for_an_unexplained_survivor_is_valid_toml() -> None:
    line = as_toml("m.xǁStoreǁput__mutmut_1", 'self.write(item, condition="a \\ b")', "equivalent: 'quoted'")

    assert tomllib.loads(line) == {
        "m.xǁStoreǁput__mutmut_1": {"change": 'self.write(item, condition="a \\ b")', "reason": "equivalent: 'quoted'"}
    }


def test_every_explanation_names_a_target_a_change_and_a_reason() -> None:
    explanations = tomllib.loads(EXPLAINED.read_text())

    assert set(explanations) <= set(TARGETS)
    for target, mutants in explanations.items():
        for mutant, explanation in mutants.items():
            assert mutant.startswith("portal_sessions."), (target, mutant)
            assert set(explanation) == {"change", "reason"}, (target, mutant)
            assert explanation["change"] and explanation["reason"] not in ("", "TODO"), (target, mutant)


def test_a_module_of_the_target_that_no_mutant_belongs_to_fails_the_check() -> None:
    # mutmut skips a path it cannot find (a module renamed) and a module whose results it did not save, silently
    keys = TARGETS["keys"]
    results = {
        "killed": [
            "portal_sessions.domain.auth.x_key_hash__mutmut_1",
            "portal_sessions.store.api_keys.x_put__mutmut_2",
        ],
        "survived": ["portal_sessions.domain.tokens.x_new_url_token__mutmut_3"],
    }

    assert modules_without_mutants(results, keys) == []
    del results["survived"]
    assert modules_without_mutants(results, keys) == ["domain/tokens.py"]
    assert modules_without_mutants({}, keys) == list(keys.modules)
