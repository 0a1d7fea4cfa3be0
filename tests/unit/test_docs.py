"""The README and docs/ hold together: every relative link reaches a file, and every `#anchor` a heading there; the
README's endpoint table and docs/api.md's routes name exactly the routes template.yaml serves; the README stays a
five-minute read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from local_gateway.template import http_routes, load_template
from portal_sessions.domain.tokens import token_hash_of

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)
ROUTE_ROW = re.compile(r"^\| `([A-Z]+) (/[^`?]*)[^`]*` \|", re.MULTILINE)


def prose(text: str) -> str:
    """The text without code: a `[x](y)` or a `# comment` inside code is neither a link nor a heading."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(document: Path) -> set[str]:
    """The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces as hyphens."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", document.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:  # a repeated heading gets -1, -2, …
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def relative_links(document: Path) -> list[str]:
    return [target for target in LINK.findall(prose(document.read_text())) if not re.match(r"\w+:", target)]


def broken_links(document: Path) -> list[str]:
    broken = []
    for target in relative_links(document):
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such heading in {linked.name}")
    return broken


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(document: Path) -> None:
    assert broken_links(document) == []


def test_the_check_sees_a_broken_file_and_a_broken_anchor(tmp_path: Path) -> None:
    # Given a document linking to a file and a heading that exist, and to ones that do not
    (tmp_path / "other.md").write_text("# Other\n\n## The portal hand-off\n")
    document = tmp_path / "doc.md"
    document.write_text(
        "# Doc\n\n## Two `commands`\n\n```sh\n# not a heading\n```\n\n"
        "[ok](other.md#the-portal-hand-off) [ok](#two-commands) [ok](https://example.com/#x) `[code](nowhere.md)`\n"
        "[gone](missing.md) [gone](other.md#nowhere) [gone](#not-a-heading)\n"
    )

    # Then only the broken ones are reported
    assert broken_links(document) == [
        "missing.md: no such file",
        "other.md#nowhere: no such heading in other.md",
        "#not-a-heading: no such heading in doc.md",
    ]


def documented_routes(text: str) -> set[tuple[str, str]]:
    """The routes a section's table names, `{parameters}` unnamed: `GET /v1/events/{}`."""
    return {(method, re.sub(r"\{[^}]*\}", "{}", path)) for method, path in ROUTE_ROW.findall(text)}


def served_routes() -> set[tuple[str, str]]:
    return {(route.method, re.sub(r"\{[^}]*\}", "{}", route.path)) for route in http_routes(load_template())} - {
        ("ANY", "$default")  # Stripe's 404 for any URL no route takes, not an endpoint
    }


def test_the_readme_and_the_api_reference_list_every_route_the_template_serves() -> None:
    readme = (ROOT / "README.md").read_text().split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    reference = (ROOT / "docs" / "api.md").read_text().split("\n## Routes\n", 1)[1].split("\n## ", 1)[0]

    assert documented_routes(readme) == served_routes()
    assert documented_routes(reference) == served_routes()


SESSION_ID = re.compile(r"\bbps_[A-Za-z0-9]{8,}")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_session_id_shown_is_one_the_service_could_answer(document: Path) -> None:
    # A reader copies an example's id into retrieve or expire: an id of the old shape is answered as unknown
    shown = SESSION_ID.findall(document.read_text())
    assert [session_id for session_id in shown if token_hash_of(session_id) is None] == []


def test_the_api_reference_names_the_cipher_that_seals_webhook_secrets() -> None:
    # sealing.py seals with AES-256-GCM (an AEAD): a reader judging the design must not be told of another cipher
    webhooks = (ROOT / "docs" / "api.md").read_text().split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    secret = next(paragraph for paragraph in webhooks.split("\n- ") if paragraph.startswith("**The secret**"))
    assert "AES-256-GCM" in secret
    assert "stream" not in secret


TEST_REFERENCE = re.compile(r"`((?:tests/[^`\s:]*)?(?:::\w+)*)`")


def named_tests(text: str) -> list[str]:
    """The tests a document names, each as `path` or `path::name`: a `::name` on its own names a test of the last
    file named before it on the same line (as the security table's cells do)."""
    found: list[str] = []
    for line in text.splitlines():
        current = None
        for reference in TEST_REFERENCE.findall(line):
            path, _, names = reference.partition("::")
            if path:
                current = path
            elif current is None or not names:
                continue
            found.append(f"{current}::{names}" if names else current)
    return [reference for reference in found if reference.startswith("tests/")]


def unresolved(reference: str) -> str | None:
    """Why the reference names no test (None: it does): a missing file or folder, or no such test function."""
    path, _, names = reference.partition("::")
    if not (ROOT / path).exists():
        return f"{reference}: no such file"
    if not names:
        return None
    scope: list[ast.stmt] = ast.parse((ROOT / path).read_text()).body
    for name in names.split("::"):
        found = next((node for node in scope if getattr(node, "name", None) == name), None)
        if found is None:
            return f"{reference}: no {name} in {path}"
        scope = getattr(found, "body", [])
    return None


def test_the_reference_check_sees_missing_files_and_tests() -> None:
    text = (
        "| a | `tests/unit/test_docs.py::named_tests`, `::unresolved` (`::nowhere`) |\n"
        "| b | `tests/unit/test_docs.py` `tests/unit/no_such.py` `::also_nowhere` `tests/unit/test_docs.py::gone` |\n"
        "| c | `::orphan` `make test` `tests/e2e` |\n"
    )
    references = named_tests(text)
    assert references == [
        "tests/unit/test_docs.py::named_tests",
        "tests/unit/test_docs.py::unresolved",
        "tests/unit/test_docs.py::nowhere",
        "tests/unit/test_docs.py",
        "tests/unit/no_such.py",
        "tests/unit/no_such.py::also_nowhere",
        "tests/unit/test_docs.py::gone",
        "tests/e2e",
    ]
    assert [unresolved(reference) for reference in references] == [
        None,
        None,
        "tests/unit/test_docs.py::nowhere: no nowhere in tests/unit/test_docs.py",
        None,
        "tests/unit/no_such.py: no such file",
        "tests/unit/no_such.py::also_nowhere: no such file",
        "tests/unit/test_docs.py::gone: no gone in tests/unit/test_docs.py",
        None,
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_test_a_document_names_exists(document: Path) -> None:
    references = named_tests(document.read_text())
    assert [problem for problem in map(unresolved, references) if problem] == []


def test_the_security_table_names_its_proofs_by_test() -> None:
    page = (ROOT / "docs" / "security.md").read_text().split("\n## ", 1)[0]  # the table, before the other sections
    rows = [line for line in page.splitlines() if line.startswith("| ") and not line.startswith("| guarantee")]
    assert len(rows) > 20
    assert all(named_tests(row) for row in rows), [row for row in rows if not named_tests(row)]


def test_the_readme_is_a_five_minute_read() -> None:
    # What the service is, the two commands, the examples, the architecture and links; the rest is in docs/
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
