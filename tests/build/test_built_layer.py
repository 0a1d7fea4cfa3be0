"""The layers and functions as `sam build` leaves them (layers/*/Makefile, functions/Makefile): run by `make build`,
not by `make test`.
Every module ships with a .pyc that Lambda uses without checking the source, the wheels are the arm64 ones, and the
boto3 closure is left to the runtime.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest

from local_gateway.template import load_template

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / ".aws-sam" / "build" / "PortalLayer" / "python"
SOURCE = ROOT / "layers" / "portal"
CIPHER_LAYER = ROOT / ".aws-sam" / "build" / "CipherLayer" / "python"
CIPHER_SOURCE = ROOT / "layers" / "cipher"
TEMPLATE = load_template()
FUNCTIONS = {
    name: resource["Properties"]["CodeUri"]
    for name, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}
RUNTIME = TEMPLATE["Globals"]["Function"]["Runtime"]  # python3.13
CPYTHON_TAG = "cpython-" + RUNTIME.removeprefix("python").replace(".", "")  # cpython-313
RUNTIME_ONLY = ("botocore", "boto3", "s3transfer", "urllib3", "dateutil")
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, check_source off
EM_AARCH64 = 183


def test_these_checks_run_on_the_runtimes_python() -> None:
    # .pyc names and their magic number are the checking interpreter's: only the runtime's own says they would load
    assert f"python{sys.version_info.major}.{sys.version_info.minor}" == RUNTIME


def built_layer() -> Path:
    if not (LAYER / "portal_sessions").is_dir():
        pytest.fail(f"{LAYER.relative_to(ROOT)} is not built: run `make build` (sam build)")
    return LAYER


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyc_problems(root: Path) -> list[str]:
    """Sources under `root` without an unchecked-hash .pyc compiled from them, and .pyc files without a source."""
    sources = sorted(root.rglob("*.py"))
    problems = []
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        if not pyc.is_file():
            problems.append(f"{source.relative_to(root)}: no {pyc.name}")
            continue
        header = pyc.read_bytes()[:16]
        if header[:4] != importlib.util.MAGIC_NUMBER:
            problems.append(f"{pyc.relative_to(root)}: not {RUNTIME} bytecode")
        elif int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
            problems.append(f"{pyc.relative_to(root)}: flags {header[4:8].hex()}, not unchecked-hash")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{pyc.relative_to(root)}: compiled from another source")
    compiled = {Path(importlib.util.cache_from_source(str(source))) for source in sources}
    problems += [f"{pyc.relative_to(root)}: no source" for pyc in root.rglob("*.pyc") if pyc not in compiled]
    return problems


def test_every_module_has_an_unchecked_hash_pyc() -> None:
    layer = built_layer()
    assert len(sorted(layer.rglob("*.py"))) > 100
    assert pyc_problems(layer) == []


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_function_ships_its_own_modules_compiled(logical_id: str) -> None:
    built = ROOT / ".aws-sam" / "build" / logical_id
    if not built.is_dir():
        pytest.fail(f"{built.relative_to(ROOT)} is not built: run `make build` (sam build)")
    source = ROOT / FUNCTIONS[logical_id]

    assert sorted(path.name for path in built.glob("*.py")) == sorted(path.name for path in source.glob("*.py"))
    assert pyc_problems(built) == []


def test_no_boto3_closure_in_the_layer() -> None:
    layer = built_layer()
    assert [name for name in RUNTIME_ONLY if (layer / name).exists()] == []
    shipped = {normalized(dist.metadata["Name"]) for dist in distributions(path=[str(layer)])}
    assert shipped.isdisjoint({"botocore", "boto3", "s3transfer", "urllib3", "python-dateutil", "six"})


def test_the_layer_holds_exactly_the_pinned_distributions() -> None:
    layer = built_layer()
    pins = {}
    for line in (SOURCE / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[normalized(name)] = version.strip()
    shipped = {normalized(dist.metadata["Name"]): dist.version for dist in distributions(path=[str(layer)])}
    assert shipped == pins


def test_extensions_are_built_for_arm64_lambda() -> None:
    layer = built_layer()
    extensions = sorted(layer.rglob("*.so"))
    assert [path.name for path in extensions if path.parent.name == "pydantic_core"] == [
        f"_pydantic_core.{CPYTHON_TAG}-aarch64-linux-gnu.so"
    ]
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert "aarch64" in extension.name, extension
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == EM_AARCH64, extension


def test_no_x_ray_sdk_in_the_layer() -> None:
    # its support ends on 2027-02-25; Lambda's own segments need none, and spans come from AWS's OpenTelemetry layer
    layer = built_layer()
    shipped = {normalized(dist.metadata["Name"]) for dist in distributions(path=[str(layer)])}
    assert "aws-xray-sdk" not in shipped
    assert not (layer / "aws_xray_sdk").exists()


def test_the_domain_packages_are_present() -> None:
    layer = built_layer()
    for package in ("portal_sessions", "aws_lambda_powertools", "pydantic", "jwt"):
        assert (layer / package / "__init__.py").is_file(), package
    domain = SOURCE / "portal_sessions"
    expected = {path.relative_to(domain) for path in domain.rglob("*") if path.is_file() and path.suffix != ".pyc"}
    shipped = {path.relative_to(layer / "portal_sessions") for path in (layer / "portal_sessions").rglob("*")}
    assert expected <= shipped


def pinned(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[normalized(name)] = version.strip()
    return pins


def test_the_cipher_layer_holds_exactly_its_pins_built_for_arm64() -> None:
    if not (CIPHER_LAYER / "cryptography").is_dir():
        pytest.fail(f"{CIPHER_LAYER.relative_to(ROOT)} is not built: run `make build` (sam build)")
    shipped = {normalized(dist.metadata["Name"]): dist.version for dist in distributions(path=[str(CIPHER_LAYER)])}
    assert shipped == pinned(CIPHER_SOURCE / "requirements.txt")
    extensions = sorted(CIPHER_LAYER.rglob("*.so"))
    # cryptography's Rust extension is abi3 (its name carries no architecture); the ELF header says arm64
    assert {path.name for path in extensions} >= {"_rust.abi3.so", f"_cffi_backend.{CPYTHON_TAG}-aarch64-linux-gnu.so"}
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == EM_AARCH64, extension
    for source in CIPHER_LAYER.rglob("*.py"):
        assert Path(importlib.util.cache_from_source(str(source))).is_file(), source


def test_the_shared_layer_has_no_cipher() -> None:
    # PyJWT imports cryptography at init wherever it finds it: the redirect's cold start must not pay for it
    assert not (built_layer() / "cryptography").exists()
