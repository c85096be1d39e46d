"""The layers import only downward (#12): the web layer (API and UI) never reaches the store past the core,
the store imports nothing above it, and the pure decisions and the crypto know nothing of the service.

Read from the source with ast, so an import inside a function counts as well as one at the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """The absolute names of the modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _modules(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


RULES = [
    # (files, forbidden prefixes, why)
    (("service/http", "service/ui"), ("service.store",), "the web layer reaches rows through the core"),
    (("service/store",), ("service.domain", "service.http", "service.ui", "service.audit", "service.app",
                          "service.runtime"), "the store imports nothing above it"),
    (("policies",), ("service", "crypto"), "decisions are pure: facts in, a decision out"),
    (("crypto",), ("service", "policies"), "the crypto knows no policy and no service"),
]


@pytest.mark.parametrize(("packages", "forbidden", "why"), RULES, ids=[rule[2] for rule in RULES])
def test_layers_import_only_downward(packages, forbidden, why):
    broken = {str(path.relative_to(ROOT)): sorted(name for name in _imports(path)
                                                  if any(name == f or name.startswith(f + ".") for f in forbidden))
              for path in _modules(*packages)}
    assert {path: names for path, names in broken.items() if names} == {}, why


def test_the_rule_reader_sees_relative_imports():
    """The reader is not blind: the core's relative import of the store (domain/units.py) is resolved."""
    assert "service.store.units" in _imports(ROOT / "service" / "domain" / "units.py") or \
        "service.store" in _imports(ROOT / "service" / "domain" / "units.py")
