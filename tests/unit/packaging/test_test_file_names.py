"""pytest imports test modules by basename (rootdir-relative "prepend" mode, no __init__.py): two test files with
the same name in different folders fail the whole run's collection ("import file mismatch"), which a run of one
folder never shows. Keep every test module's name unique."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]


def test_test_module_names_are_unique_across_the_tree() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert {name: count for name, count in names.items() if count > 1} == {}
