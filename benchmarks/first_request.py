"""First request after init: how much slower the first request of a fresh execution environment is than its warm
median, for create (with an Idempotency-Key: the request that needs the cipher) and the redirect (a first visit).

Each sample is a fresh process (a cold environment): it imports the one handler (the function's init), then, for
*primed*, runs the before-snapshot hooks as Lambda runs them before taking a SnapStart snapshot (the priming of
portal_sessions/api_gateway/priming.py), then stubs every AWS client as the warm benchmark does
(benchmarks/warm.py), times the first request, then the same request warm. *primed* then runs the after-restore
hooks as Lambda runs them in a restored copy before its first request (the function's keys read into Powertools'
cache, answered by the stubs).
*not primed* is a cold start without SnapStart (and the code before priming existed). *primed, keys read by the first
request* skips the after-restore hooks: a restored copy as it was before the keys were read at restore. What a restore
itself takes on AWS cannot be measured here.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import PYTHON, ROOT, fmt, median, offline_aws_environment, section_main, table

GOAL_RATIO = 1.5
FUNCTIONS = {  # the handler module and the warm benchmark's case its first request is
    "CreateSessionFunction": ("create_session_handler", "create with Idempotency-Key"),
    "RedirectFunction": ("redirect_handler", "redirect (first visit)"),
}
PRIMED, NOT_PRIMED, NO_RESTORE_READ = "primed", "not primed", "primed, keys read by the first request"
VARIANTS = (PRIMED, NOT_PRIMED, NO_RESTORE_READ)
WARM_INVOCATIONS = 200
WARMUP_INVOCATIONS = 30


def measure(quick: bool) -> dict[str, Any]:
    from .warm import recorded_scenarios

    rounds = 3 if quick else 9
    samples: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="portal-bench-first-") as temporary:
        recorded = Path(temporary) / "recorded.json"
        recorded.write_text(json.dumps(recorded_scenarios()))
        variants = [(function, variant) for function in FUNCTIONS for variant in VARIANTS]
        for _round in range(rounds):
            random.shuffle(variants)
            for function, variant in variants:
                out = Path(temporary) / "sample.json"
                subprocess.run(
                    [
                        PYTHON,
                        "-m",
                        "benchmarks.first_request",
                        "--worker",
                        function,
                        variant,
                        str(recorded),
                        str(out),
                    ],
                    cwd=ROOT,
                    env=offline_aws_environment(),
                    check=True,
                    timeout=300,
                    capture_output=True,
                )
                samples.setdefault(f"{function}, {variant}", []).append(json.loads(out.read_text()))
    return {"rounds": rounds, "samples": samples}


def _worker(function: str, variant: str, recorded_path: str, out: str) -> None:
    import importlib

    from .warm import build_cases, setup_environment

    setup_environment()
    real_stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Powertools' logger binds the stream it finds at import
    module, case_name = FUNCTIONS[function]
    importlib.import_module(module)  # the function's init
    restore_hooks: list[Any] = []
    if variant != NOT_PRIMED:  # as Lambda runs them before the snapshot (reverse order of registration)
        import snapshot_restore_py

        for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
            hook(*args, **kwargs)
        # this function's own (build_cases imports the other handler too, which registers its own)
        restore_hooks = list(snapshot_restore_py.get_after_restore())
    bench = build_cases(json.loads(Path(recorded_path).read_text()))
    [case] = [case for case in bench.cases if case.name == case_name]
    if variant == PRIMED:  # as Lambda runs them in a restored copy (order of registration), AWS stubbed
        for hook, args, kwargs in restore_hooks:
            hook(*args, **kwargs)
    first = bench.invoke(case)
    first_cpu = bench.last_cpu_us()
    for _warmup in range(WARMUP_INVOCATIONS):
        bench.invoke(case)
    warm, warm_cpu = [], []
    for _invocation in range(WARM_INVOCATIONS):
        warm.append(bench.invoke(case))
        warm_cpu.append(bench.last_cpu_us())
    sys.stdout = real_stdout
    Path(out).write_text(
        json.dumps(
            {
                "first_us": first,
                "warm_median_us": median(warm),
                "first_cpu_us": first_cpu,
                "warm_cpu_median_us": median(warm_cpu),
            }
        )
    )


def _ratios(samples: list[dict[str, float]]) -> list[float]:
    return [sample["first_us"] / sample["warm_median_us"] for sample in samples]


def _cpu_ratios(samples: list[dict[str, float]]) -> list[float]:
    return [sample["first_cpu_us"] / sample["warm_cpu_median_us"] for sample in samples if "first_cpu_us" in sample]


def _cpu_ratio(samples: list[dict[str, float]]) -> str:
    ratios = _cpu_ratios(samples)
    return f"{median(ratios):.2f}×" if ratios else "–"


def render(result: dict[str, Any]) -> str:
    samples: dict[str, list[dict[str, float]]] = result["samples"]
    rows = [
        [
            name,
            fmt(median([sample["first_us"] for sample in values]) / 1000, 2),
            fmt(median([sample["warm_median_us"] for sample in values]) / 1000, 3),
            f"{median(_ratios(values)):.2f}×",
            _cpu_ratio(values),
        ]
        for name, values in sorted(samples.items())
    ]
    return "\n".join(
        [
            f"{result['rounds']} fresh processes per row, interleaved in shuffled order. Each imports one handler (its "
            "init); a *primed* one then runs the before-snapshot hooks as Lambda does before a SnapStart snapshot; "
            "then every AWS client is stubbed as in the warm benchmark, the first request is timed, and the same "
            f"request {WARM_INVOCATIONS} times more after {WARMUP_INVOCATIONS} warm-up ones. The ratio is the median "
            "over processes of first ÷ that process's warm median. The warm benchmark's set-up (the stubs, the "
            "default configuration seen once) runs before the first request in both variants. What a SnapStart "
            "restore takes on AWS cannot be measured here: a primed row is the first request of a restored copy, "
            "after the restore, whose hooks (run here as Lambda runs them) read the function's keys (create: the API "
            "keys' digests from SSM; the redirect: both modes' signing keys from Secrets Manager, stubbed here) into "
            "the cache the requests read. *primed, keys read by the first request*: without the after-restore hooks, "
            "as a restored copy was before the keys were read at restore. *same, in CPU time*: the ratio of the "
            "handler thread's CPU time (`time.thread_time_ns`), which the other processes of a loaded machine do "
            "not inflate as they do a single wall-clock sample.",
            "",
            table(["case", "first request ms", "warm median ms", "first ÷ warm median", "same, in CPU time"], rows),
        ]
    )


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    samples: dict[str, list[dict[str, float]]] = result["samples"]
    rows: list[tuple[str, str, str, bool | None]] = []
    for function in FUNCTIONS:
        primed, unprimed, no_restore_read = (median(_ratios(samples[f"{function}, {v}"])) for v in VARIANTS)
        primed_cpu, no_restore_read_cpu = (_cpu_ratio(samples[f"{function}, {v}"]) for v in (PRIMED, NO_RESTORE_READ))
        rows.append(
            (
                f"First request after init ÷ warm median, {function}, primed (SnapStart)",
                f"{primed:.2f}×, CPU time {primed_cpu} (not primed: {unprimed:.2f}×; keys read by the first request "
                f"instead of at restore: {no_restore_read:.2f}×, CPU time {no_restore_read_cpu})",
                f"≤ {GOAL_RATIO}×",
                primed <= GOAL_RATIO,
            )
        )
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        section_main(measure)
