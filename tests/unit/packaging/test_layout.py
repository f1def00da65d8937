"""The import name is `odradek`; the standard library's `operator` must stay importable (DESIGN.md section 1)."""

import importlib
import subprocess
import sys
import sysconfig
from pathlib import Path


def test_stdlib_operator_is_not_shadowed() -> None:
    operator = importlib.import_module("operator")
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(operator.__file__).resolve().parent == stdlib
    assert operator.add(2, 3) == 5


def test_stdlib_operator_in_a_fresh_interpreter_with_operator_package_imported() -> None:
    code = "import odradek.operator, operator, asyncio; print(operator.__file__); print(odradek.operator.__name__)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert Path(out[0]).resolve().parent == Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert out[1] == "odradek.operator"


def test_namespace_has_no_init_at_source_roots() -> None:
    root = Path(__file__).resolve().parents[3]
    for component in ("broker", "operator", "connect", "mirror"):
        assert not (root / component / "__init__.py").exists()
        assert not (root / component / "odradek" / "__init__.py").exists()
        assert (root / component / "odradek" / component / "__init__.py").exists()
