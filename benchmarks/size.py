"""Deployment size: each function's code and the layer as `sam build` makes them, unzipped and zipped (deflate, as
`sam deploy` uploads them). Built into a temporary directory (`--build-dir`, `--cache-dir`, `--no-cached`), so the
project's own .aws-sam is left alone.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from .common import PYTHON, ROOT, fmt, fmt_int, section_main, table

BUILD_TIMEOUT_SECONDS = 600
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function plus all its layers
LAMBDA_ZIPPED_UPLOAD_LIMIT = 50 * 1024 * 1024


def _files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def _sizes(directory: Path) -> dict[str, Any]:
    files = _files(directory)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(directory).as_posix())
    return {
        "files": len(files),
        "unzipped": sum(path.stat().st_size for path in files),
        "zipped": len(buffer.getvalue()),
        "py": sum(path.suffix == ".py" for path in files),
        "pyc": sum(path.suffix == ".pyc" for path in files),
    }


def measure(quick: bool) -> dict[str, Any]:
    sam = Path(PYTHON).parent / "sam"
    # the venv's bin/ first on PATH, as `make build` does: the Makefiles compile with its python3.13
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{sam.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with tempfile.TemporaryDirectory(prefix="portal-bench-size-") as temporary:
        build = Path(temporary) / "build"
        started = time.perf_counter()
        completed = subprocess.run(
            [
                str(sam),
                "build",
                "--build-dir",
                str(build),
                "--cache-dir",
                str(Path(temporary) / "cache"),
                "--no-cached",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
        build_seconds = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"sam build failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
        artifacts = {path.name: _sizes(path) for path in sorted(build.iterdir()) if path.is_dir()}
        layer_root = build / "PortalLayer" / "python"
        packages = sorted(
            ((path.name, sum(f.stat().st_size for f in ([path] if path.is_file() else _files(path))))
             for path in layer_root.iterdir()),
            key=lambda item: -item[1],
        )  # fmt: skip
    return {
        "build_seconds": build_seconds,
        "artifacts": artifacts,
        "layer_packages": packages[:8],
    }


def _is_function(artifact: str) -> bool:
    """A function's artifact, not a layer's (CipherLayer, PortalLayer): template.yaml's names say which."""
    return artifact.endswith("Function")


def _mb(size: float) -> str:
    return fmt(size / 1024 / 1024, 2)


def render(result: dict[str, Any]) -> str:
    artifacts: dict[str, dict[str, Any]] = result["artifacts"]
    layer = artifacts.get("PortalLayer", {"unzipped": 0, "zipped": 0})
    rows = [
        [name, entry["files"], f"{fmt_int(entry['unzipped'] / 1024)} KiB", f"{fmt_int(entry['zipped'] / 1024)} KiB",
         entry["pyc"]]
        for name, entry in artifacts.items()
    ]  # fmt: skip
    largest_function = max((entry["unzipped"] for name, entry in artifacts.items() if _is_function(name)), default=0)
    layers = sum(entry["unzipped"] for name, entry in artifacts.items() if not _is_function(name))
    total = largest_function + layers  # the most any function can be given: its code and every layer
    packages = ", ".join(f"{name} {_mb(size)} MB" for name, size in result["layer_packages"])
    return "\n".join(
        [
            f"`.venv/bin/sam build` (arm64, into a temporary build directory, {fmt(result['build_seconds'], 0)} s), "
            "each artifact zipped with deflate in memory.",
            "",
            table(["artifact", "files", "unzipped", "zipped", ".pyc files"], rows),
            "",
            f"Largest function plus every layer: {_mb(total)} MB unzipped, against Lambda's 250 MB limit "
            f"({100 * total / LAMBDA_UNZIPPED_LIMIT:.1f}%); the layer zipped is {_mb(layer['zipped'])} MB (direct "
            f"upload limit 50 MB). Layer by package, unzipped: {packages}. The layer ships a `.pyc` for every "
            "module (layers/portal/Makefile), since Lambda cannot write `__pycache__` (read-only file system): the "
            "cold-start section's secondary rows show what a layer without them costs at every cold start. Each "
            "function's own code ships compiled the same way (functions/Makefile).",
        ]
    )


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    layer = result["artifacts"].get("PortalLayer", {"unzipped": 0, "zipped": 0})
    functions = [entry["zipped"] for name, entry in result["artifacts"].items() if _is_function(name)]
    largest = fmt_int(max(functions, default=0) / 1024)
    return [
        (
            "Deployment size, layer unzipped / zipped; functions zipped",
            f"{_mb(layer['unzipped'])} MB / {_mb(layer['zipped'])} MB; ≤ {largest} KiB each",
            "–",
            None,
        )
    ]


if __name__ == "__main__":
    section_main(measure)
