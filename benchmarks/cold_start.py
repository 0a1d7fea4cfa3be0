"""Cold start: wall time of a fresh Python process that imports a handler and builds its DynamoDB client, as a ratio
to the floor every function pays anyway (`import boto3; boto3.client("dynamodb")`), all measured in one run.

The processes run with a Lambda-like `sys.path` and no site-packages (`python -S`): the function's code, then the
layer (the packages of layers/portal/requirements.txt plus portal_sessions), then the runtime's boto3 with its
dependencies (boto3's own requirement closure, without extras). The dev venv also holds awscrt, pyOpenSSL and
cryptography, which botocore and PyJWT import when present but which Lambda does not have; the dev-venv rows show
what that costs. Runs are interleaved in a shuffled order each round; medians are reported.
"""

from __future__ import annotations

import importlib.metadata
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import (
    FUNCTIONS_DIR,
    HANDLERS,
    LAYER_DIR,
    PYTHON,
    ROOT,
    fmt,
    fmt_int,
    function_environment,
    median,
    offline_aws_environment,
    section_main,
    table,
    verdict,
)

# The goals (issue 11) are at the floor of the libraries each function must import, as deployed: create needs
# pydantic and Powertools' logger, metrics and parameters; the redirect needs Powertools and PyJWT.
GOAL_RATIOS = {"CreateSessionFunction": 1.45, "RedirectFunction": 1.30}
GOAL_FUNCTIONS = tuple(GOAL_RATIOS)
FLOOR_CODE = 'import boto3; boto3.client("dynamodb")'
HANDLER_CODE = "import {module}; from portal_sessions.store.table import dynamodb_client; dynamodb_client()"
RUN_TIMEOUT_SECONDS = 60
# The libraries each goal function imports, alone on top of the floor: the part of the gap that is not this project's.
LIBRARIES = {
    "CreateSessionFunction": (
        "import aws_lambda_powertools, aws_lambda_powertools.utilities.parameters; from pydantic import BaseModel"
    ),
    "RedirectFunction": "import aws_lambda_powertools, aws_lambda_powertools.utilities.parameters, jwt",
}
# What any function here must import: Powertools' logger and metrics (the issue's observability) and, to validate a
# create with the models the OpenAPI document is made from, pydantic. The least a create could cost.
REQUIRED = "import aws_lambda_powertools; from pydantic import BaseModel"
# Create's libraries and its request models (Stripe's create parameters, validated by pydantic) defined and built,
# as its init builds them: what create pays before a line of this service's own logic.
MODELS_ROW = "floor + CreateSessionFunction's libraries and request models"
MODELS_CODE = (
    "from portal_sessions.stripe_wire.params import CreateSessionParams; "
    "from portal_sessions.stripe_wire.stripe_params import build_validators; build_validators(CreateSessionParams)"
)
IMPORTTIME_RUNS = 3


def _requirement_names(requirements: list[str] | None) -> list[str]:
    names = []
    for requirement in requirements or []:
        if ";" in requirement and "extra" in requirement.split(";", 1)[1]:
            continue  # optional extras (botocore[crt] …) are not in the Lambda runtime
        match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
        if match:
            names.append(match.group(0))
    return names


def _closure(roots: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = None
        pending += _requirement_names(importlib.metadata.requires(name))
    return list(seen)


def _top_level_paths(distribution_name: str) -> list[Path]:
    """The importable top-level files and directories a distribution installed (no metadata, no caches)."""
    distribution = importlib.metadata.distribution(distribution_name)
    tops: dict[str, None] = {}
    for file in distribution.files or []:
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__", "bin"):
            continue
        tops[first] = None
    base = Path(str(distribution.locate_file("")))
    return [base / name for name in tops]


def _layer_requirements() -> list[str]:
    lines = (LAYER_DIR / "requirements.txt").read_text().splitlines()
    return [line.split("==")[0].strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignore_caches(_directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__" or name.endswith(".pyc")]


def build_sandbox(root: Path) -> dict[str, Path]:
    """Directories that mirror Lambda's: runtime (boto3 closure), layer (symlinks, and portal_sessions compiled as
    the layer's build compiles it), layer without .pyc (copies)."""
    runtime, layer, layer_nopyc, functions_nopyc = (
        root / "runtime",
        root / "layer",
        root / "layer-nopyc",
        root / "functions-nopyc",
    )
    for directory in (runtime, layer, layer_nopyc, functions_nopyc):
        directory.mkdir()
    for name in _closure(["boto3"]):
        for path in _top_level_paths(name):
            (runtime / path.name).symlink_to(path)
    layer_paths = [path for name in _layer_requirements() for path in _top_level_paths(name)]
    layer_paths.append(LAYER_DIR / "portal_sessions")
    for path in layer_paths:
        if path.name == "portal_sessions":  # compiled as layers/portal/Makefile does, not a working tree's stale cache
            shutil.copytree(path, layer / path.name, ignore=_ignore_caches)
            subprocess.run(
                [PYTHON, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(layer / path.name)],
                check=True, timeout=RUN_TIMEOUT_SECONDS, capture_output=True,
            )  # fmt: skip
        elif not (layer / path.name).exists():
            (layer / path.name).symlink_to(path)
        target = layer_nopyc / path.name
        if target.exists():
            continue
        if path.is_dir():
            shutil.copytree(path, target, ignore=_ignore_caches)
        else:
            shutil.copy2(path, target)
    for _module, code_dir in HANDLERS.values():
        shutil.copytree(FUNCTIONS_DIR / code_dir, functions_nopyc / code_dir, ignore=_ignore_caches)
    return {"runtime": runtime, "layer": layer, "layer_nopyc": layer_nopyc, "functions_nopyc": functions_nopyc}


def _variants(sandbox: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Every process measured: its flags, its sys.path (PYTHONPATH) and its code."""
    runtime, layer = str(sandbox["runtime"]), str(sandbox["layer"])
    variants: dict[str, dict[str, Any]] = {
        "bare": {"flags": ["-S"], "path": [], "code": "pass", "group": "main"},
        "floor": {"flags": ["-S"], "path": [runtime], "code": FLOOR_CODE, "group": "main"},
    }
    for logical_id, (module, code_dir) in HANDLERS.items():
        variants[logical_id] = {
            "flags": ["-S"],
            "path": [str(FUNCTIONS_DIR / code_dir), layer, runtime],
            "code": HANDLER_CODE.format(module=module),
            "group": "main",
            "function": logical_id,
        }
    variants["floor + pydantic, Powertools' logger and metrics"] = {
        "flags": ["-S"],
        "path": [layer, runtime],
        "code": f"{FLOOR_CODE}; {REQUIRED}",
        "group": "main",
    }
    for logical_id in GOAL_FUNCTIONS:
        variants[f"floor + {logical_id}'s libraries"] = {
            "flags": ["-S"],
            "path": [layer, runtime],
            "code": f"{FLOOR_CODE}; {LIBRARIES[logical_id]}",
            "group": "main",
        }
    variants[MODELS_ROW] = {
        "flags": ["-S"],
        "path": [layer, runtime],
        "code": f"{FLOOR_CODE}; {LIBRARIES['CreateSessionFunction']}; {MODELS_CODE}",
        "group": "main",
    }
    variants["floor (secondary)"] = {"flags": ["-S"], "path": [runtime], "code": FLOOR_CODE, "group": "secondary"}
    for logical_id in GOAL_FUNCTIONS:
        module, code_dir = HANDLERS[logical_id]
        variants[f"{logical_id}, layer without .pyc"] = {
            "flags": ["-S", "-B"],
            "path": [str(sandbox["functions_nopyc"] / code_dir), str(sandbox["layer_nopyc"]), runtime],
            "code": HANDLER_CODE.format(module=module),
            "group": "secondary",
            "function": logical_id,
        }
    variants["floor, dev venv"] = {"flags": [], "path": [], "code": FLOOR_CODE, "group": "secondary"}
    for logical_id in GOAL_FUNCTIONS:
        module, code_dir = HANDLERS[logical_id]
        variants[f"{logical_id}, dev venv"] = {
            "flags": [],
            "path": [str(FUNCTIONS_DIR / code_dir), str(LAYER_DIR)],
            "code": HANDLER_CODE.format(module=module),
            "group": "secondary",
            "function": logical_id,
        }
    return variants


def _environment(variant: dict[str, Any]) -> dict[str, str]:
    env = offline_aws_environment()
    env.update(function_environment(variant.get("function", "CreateSessionFunction")))
    if variant["path"]:
        env["PYTHONPATH"] = ":".join(variant["path"])
    return env


def _run(variant: dict[str, Any], env: dict[str, str], extra_flags: tuple[str, ...] = ()) -> tuple[float, str]:
    command = [PYTHON, *variant["flags"], *extra_flags, "-c", variant["code"]]
    started = time.perf_counter()
    completed = subprocess.run(
        command, env=env, cwd="/", capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{completed.stderr[-3000:]}")
    return elapsed, completed.stderr


def _time_group(variants: dict[str, dict[str, Any]], group: str, rounds: int, seed: int) -> dict[str, list[float]]:
    names = [name for name, variant in variants.items() if variant["group"] == group]
    envs = {name: _environment(variants[name]) for name in names}
    for name in names:  # once untimed: .pyc written where allowed, files in the page cache
        _run(variants[name], envs[name])
    samples: dict[str, list[float]] = {name: [] for name in names}
    shuffler = random.Random(seed)
    for _round in range(rounds):
        order = names[:]
        shuffler.shuffle(order)
        for name in order:
            samples[name].append(_run(variants[name], envs[name])[0])
    return samples


def _parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, depth, self µs, cumulative µs) for each line of `python -X importtime`."""
    rows = []
    for line in stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "self [us]" in line:
            continue
        name = parts[2][1:]  # one space after the bar, then two per level of nesting
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((name.strip(), depth, int(parts[0].split(":", 1)[1]), int(parts[1])))
    return rows


def _beyond_floor(rows: list[tuple[str, int, int, int]], floor_modules: set[str]) -> dict[str, int]:
    """Each module's cumulative time counting only modules the floor does not import (a module that happens to be
    the first importer of boto3 does not get boto3's time). importtime prints a tree in post-order."""
    totals: dict[str, int] = {}
    stack: list[tuple[int, int]] = []  # (depth, beyond-floor cumulative) of modules waiting for their parent
    for name, depth, self_us, _cumulative in rows:
        children = 0
        while stack and stack[-1][0] > depth:
            children += stack.pop()[1]
        value = (0 if name in floor_modules else self_us) + children
        totals[name] = value
        stack.append((depth, value))
    return totals


def _importtime(variants: dict[str, dict[str, Any]], runs: int) -> dict[str, Any]:
    floor = variants["floor"]
    floor_modules: set[str] = set()
    floor_totals = []
    for _run_index in range(runs):
        rows = _parse_importtime(_run(floor, _environment(floor), ("-X", "importtime"))[1])
        floor_modules |= {name for name, _depth, _self, _cumulative in rows}
        floor_totals.append(sum(self_us for _name, _depth, self_us, _cumulative in rows))
    report: dict[str, Any] = {"floor_import_us": median(floor_totals)}
    for logical_id in GOAL_FUNCTIONS:
        variant = variants[logical_id]
        module = HANDLERS[logical_id][0]
        per_module: dict[str, dict[str, Any]] = {}
        totals = []
        for _run_index in range(runs):
            rows = _parse_importtime(_run(variant, _environment(variant), ("-X", "importtime"))[1])
            totals.append(sum(self_us for _name, _depth, self_us, _cumulative in rows))
            beyond_cumulative = _beyond_floor(rows, floor_modules)
            for name, depth, self_us, cumulative_us in rows:
                entry = per_module.setdefault(name, {"depth": depth, "self": [], "cumulative": [], "beyond": []})
                entry["self"].append(self_us)
                entry["cumulative"].append(cumulative_us)
                entry["beyond"].append(beyond_cumulative[name])
        beyond = {
            name: {
                "depth": entry["depth"],
                "self": median(entry["self"]),
                "cumulative": median(entry["cumulative"]),
                "beyond": median(entry["beyond"]),
            }
            for name, entry in per_module.items()
            if name not in floor_modules and name != module
        }
        top = sorted(beyond.items(), key=lambda item: -item[1]["beyond"])[:10]
        packages: dict[str, float] = {}
        for name, entry in beyond.items():
            packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0) + entry["self"]
        report[logical_id] = {
            "total_import_us": median(totals),
            "beyond_floor_us": sum(entry["self"] for entry in beyond.values()),
            "handler_cumulative_us": median(per_module[module]["cumulative"]) if module in per_module else None,
            "top": [{"module": name, **entry} for name, entry in top],
            "packages": sorted(packages.items(), key=lambda item: -item[1])[:8],
        }
    return report


def measure(quick: bool) -> dict[str, Any]:
    rounds, secondary_rounds, importtime_runs = (5, 3, 2) if quick else (25, 5, IMPORTTIME_RUNS)
    with tempfile.TemporaryDirectory(prefix="portal-bench-cold-") as temporary:
        sandbox = build_sandbox(Path(temporary))
        variants = _variants(sandbox)
        main = _time_group(variants, "main", rounds, seed=1)
        secondary = _time_group(variants, "secondary", secondary_rounds, seed=2)
        imports = _importtime(variants, importtime_runs)
        runtime_packages = sorted(path.name for path in sandbox["runtime"].iterdir())
        layer_packages = sorted(path.name for path in sandbox["layer"].iterdir())
    return {
        "rounds": rounds,
        "secondary_rounds": secondary_rounds,
        "importtime_runs": importtime_runs,
        "samples": {**main, **secondary},
        "importtime": imports,
        "runtime_packages": runtime_packages,
        "layer_packages": layer_packages,
        "root": str(ROOT),
    }


def paired_ratio(samples: dict[str, list[float]], name: str, floor: str) -> float:
    """The median, over rounds, of this variant's time over the floor's in the same round.

    This machine's speed drifts by tens of percent within minutes; a round's runs are seconds apart, so a ratio
    within a round cancels most of the drift that a ratio of two overall medians keeps."""
    return median([variant / base for variant, base in zip(samples[name], samples[floor], strict=True)])


def _ratio_rows(samples: dict[str, list[float]], names: list[str], floor: str, bare: float | None) -> list[list[str]]:
    floor_ms = median(samples[floor]) * 1000
    rows = []
    for name in names:
        ms = median(samples[name]) * 1000
        ratio = paired_ratio(samples, name, floor)
        net = "" if bare is None else fmt((ms - bare) / (floor_ms - bare))
        goal = ""
        if name in GOAL_RATIOS:
            goal = f"≤ {GOAL_RATIOS[name]}×: {verdict(ratio <= GOAL_RATIOS[name])}"
        row = [name, fmt(ms, 0), fmt(min(samples[name]) * 1000, 0), f"{ratio:.2f}×"]
        if bare is not None:
            row.append(f"{net}×" if name not in ("bare", floor) else "")
        rows.append([*row, goal])
    return rows


def render(result: dict[str, Any]) -> str:
    samples: dict[str, list[float]] = result["samples"]
    bare = median(samples["bare"]) * 1000
    main_names = [
        "bare",
        "floor",
        "floor + pydantic, Powertools' logger and metrics",
        *(f"floor + {logical_id}'s libraries" for logical_id in GOAL_FUNCTIONS),
        MODELS_ROW,
        *HANDLERS,
    ]
    parts = [
        f"Wall time of a fresh `python -S -c …` process, median of {result['rounds']} interleaved runs each "
        "(shuffled order every round); *ratio to floor* is the median over rounds of the row's time over the floor's "
        "in the same round, which cancels most of this shared machine's drift in speed. "
        f"*floor* = `{FLOOR_CODE}`; a handler row = `import <handler>` + "
        "`portal_sessions.store.table.dynamodb_client()`. `sys.path` is Lambda's: function code, then the layer "
        f"({', '.join(result['layer_packages'])}), then the runtime's boto3 closure "
        f"({', '.join(result['runtime_packages'])}), all with their `.pyc`. *bare* = `python -S -c pass` "
        "(interpreter start-up); *net ratio* = (row − bare) ÷ (floor − bare). A handler row runs as the template "
        "deploys by default, without SnapStart: no X-Ray SDK (Lambda's own segments only) and no OpenTelemetry "
        "layer. *floor + … libraries* rows import only the libraries that function needs, on top of the floor "
        "(create: pydantic and Powertools' logger, metrics and parameters; redirect: Powertools' logger, metrics and "
        "parameters, and PyJWT): the part of the gap that is not this project's code. "
        "*floor + pydantic, Powertools' logger and metrics* is the least a create can import here (the issue's "
        "observability, and the models its OpenAPI document is made from). "
        f"*{MODELS_ROW}* adds Stripe's create parameters as pydantic models, defined and built as create's init "
        "builds them: what create pays before any of this service's own logic.",
        "",
        table(
            ["process", "median ms", "min ms", "ratio to floor", "net ratio", "goal"],
            [
                [("floor: boto3 + client" if name == "floor" else name), *rest]
                for name, *rest in _ratio_rows(samples, main_names, "floor", bare)
            ],
        ),
        "",
        f"Secondary ({result['secondary_rounds']} interleaved runs each, own floors): the layer without `.pyc`, as "
        "SAM's python builder shipped it before the layer's makefile build (Lambda's file system is read-only, so "
        "every cold start compiled the layer's sources, `python -B`): what compiling at build time saves; and the "
        "dev venv (`site-packages` with awscrt, pyOpenSSL, cryptography, which "
        "botocore and PyJWT pick up when present).",
        "",
        table(
            ["process", "median ms", "min ms", "ratio to its floor", "goal"],
            _ratio_rows(
                samples,
                ["floor (secondary)", *(f"{name}, layer without .pyc" for name in GOAL_FUNCTIONS)],
                "floor (secondary)",
                None,
            )
            + _ratio_rows(
                samples, ["floor, dev venv", *(f"{name}, dev venv" for name in GOAL_FUNCTIONS)], "floor, dev venv", None
            ),
        ),
    ]
    imports = result["importtime"]
    parts += [
        "",
        f"`python -X importtime` (median of {result['importtime_runs']} runs, same Lambda-like path): the floor "
        f"imports in {fmt_int(imports['floor_import_us'] / 1000)} ms. Top 10 modules the handler imports beyond the "
        "floor's, ranked by their cumulative time *beyond the floor* (their own and their imports' time, leaving out "
        "modules the floor imports too, such as boto3 when a module is the first to import it); depth = nesting in "
        "the import tree, a parent's time includes its children's:",
    ]
    for logical_id in GOAL_FUNCTIONS:
        entry = imports[logical_id]
        packages = ", ".join(f"{name} {fmt_int(us / 1000)} ms" for name, us in entry["packages"])
        parts += [
            "",
            f"**{logical_id}**: all imports {fmt_int(entry['total_import_us'] / 1000)} ms, of which "
            f"{fmt_int(entry['beyond_floor_us'] / 1000)} ms in modules the floor does not import "
            f"(self time by package: {packages}).",
            "",
            table(
                ["module", "depth", "self µs", "cumulative µs", "cumulative beyond floor µs"],
                [
                    [
                        f"`{row['module']}`",
                        row["depth"],
                        fmt_int(row["self"]),
                        fmt_int(row["cumulative"]),
                        fmt_int(row["beyond"]),
                    ]
                    for row in entry["top"]
                ],
            ),
        ]
    return "\n".join(parts)


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    samples: dict[str, list[float]] = result["samples"]
    floor = median(samples["floor"])
    rows: list[tuple[str, str, str, bool | None]] = []
    for name in GOAL_FUNCTIONS:
        ratio = paired_ratio(samples, name, "floor")
        goal = GOAL_RATIOS.get(name)
        rows.append(
            (
                f"Cold start, {name} ÷ floor",
                f"{ratio:.2f}× ({fmt(median(samples[name]) * 1000, 0)} ms vs {fmt(floor * 1000, 0)} ms)",
                "–" if goal is None else f"≤ {goal}×",
                None if goal is None else ratio <= goal,
            )
        )
    required = "floor + pydantic, Powertools' logger and metrics"
    if required in samples:  # results from before this row was measured lack it
        ratio = paired_ratio(samples, required, "floor")
        rows.append((f"Cold start, {required} ÷ floor (the least a create imports)", f"{ratio:.2f}×", "–", None))
    if MODELS_ROW in samples:
        ratio = paired_ratio(samples, MODELS_ROW, "floor")
        rows.append((f"Cold start, {MODELS_ROW} ÷ floor", f"{ratio:.2f}×", "–", None))
    return rows


if __name__ == "__main__":
    section_main(measure)
