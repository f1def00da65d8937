"""Copy the CRDs of crds/ (the source of truth) into the Helm chart's crds/ folder.

    python3 tools/gen_chart_crds.py           # write charts/odradek-operator/crds/
    python3 tools/gen_chart_crds.py --check   # exit 1, naming the files, when the chart's copies are stale

Each copy is the source file with a first line saying where it comes from; the chart's crds/ holds exactly one
copy per source file (a copy whose source is gone is stale too). `make check` runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "crds"
CHART_CRDS = ROOT / "charts" / "odradek-operator" / "crds"


def expected(source: Path = SOURCE) -> dict[str, str]:
    """File name -> the text the chart's copy must have."""
    return {
        path.name: f"# Generated from crds/{path.name} by tools/gen_chart_crds.py: edit that file, not this one.\n"
        + path.read_text(encoding="utf-8")
        for path in sorted(source.glob("*.yaml"))
    }


def stale(source: Path = SOURCE, target: Path = CHART_CRDS) -> list[str]:
    """The chart's files that differ from, are missing from, or are extra to what crds/ gives."""
    want = expected(source)
    have = {path.name: path.read_text(encoding="utf-8") for path in sorted(target.glob("*.yaml"))}
    return sorted(name for name in want.keys() | have.keys() if want.get(name) != have.get(name))


def write(source: Path = SOURCE, target: Path = CHART_CRDS) -> None:
    target.mkdir(parents=True, exist_ok=True)
    want = expected(source)
    for path in target.glob("*.yaml"):
        if path.name not in want:
            path.unlink()
    for name, text in want.items():
        (target / name).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the chart's CRDs are not crds/'s")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        if bad:
            print(f"charts/odradek-operator/crds/ is stale ({', '.join(bad)}): run tools/gen_chart_crds.py")
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
