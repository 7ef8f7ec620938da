"""The docs say what the code does: every `make` target a README names exists, and shared/README lists every module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PLACES = ("README.md", "*/README.md", "services/*/README.md", "deploy/*/README.md", "docs/*.md")
DOCS = sorted(path for place in PLACES for path in ROOT.glob(place))


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_make_target_a_doc_names_exists(doc: Path) -> None:
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", doc.read_text()))
    assert named - make_targets() == set()


def test_shared_readme_lists_every_module() -> None:
    package = ROOT / "shared" / "vodkit_shared"
    modules = {path.stem for path in package.glob("*.py") if path.stem != "__init__"}
    modules |= {path.parent.name for path in package.glob("*/__init__.py")}
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "shared" / "README.md").read_text(), re.MULTILINE))
    assert modules == listed
