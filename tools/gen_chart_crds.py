"""Render the CRDs of crds/ (the source of truth) as templates of the Helm chart, so `helm upgrade` upgrades them.

    python3 tools/gen_chart_crds.py           # write charts/odradek-operator/templates/crds/
    python3 tools/gen_chart_crds.py --check   # exit 1, naming the files, when the chart's copies are stale

Each template is the source file inside `{{- if .Values.crds.install }}`, with the annotation
`helm.sh/resource-policy: keep` added under its top-level `metadata:` when `.Values.crds.keep` (so an uninstall
leaves the CRDs, and with them the users' resources, in place). The chart has no plain crds/ folder: Helm installs
that itself and never upgrades it, and a CRD in both places makes Helm refuse the install. templates/crds/ holds
exactly one template per source file (a template whose source is gone is stale too). `make check` runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "crds"
CHART_CRDS = ROOT / "charts" / "odradek-operator" / "templates" / "crds"

KEEP = "metadata:\n{{- if .Values.crds.keep }}\n  annotations:\n    helm.sh/resource-policy: keep\n{{- end }}\n"


def template(name: str, text: str) -> str:
    """The chart's template for the source file `name` with content `text` (one top-level `metadata:` line)."""
    if "{{" in text:
        raise ValueError(f"crds/{name} holds '{{{{', which Helm would read as a template action")
    lines = text.splitlines(keepends=True)
    [at] = [i for i, line in enumerate(lines) if line == "metadata:\n"]
    lines[at] = KEEP
    return (
        f"{{{{- /* Generated from crds/{name} by tools/gen_chart_crds.py: edit that file, not this one. */}}}}\n"
        "{{- if .Values.crds.install }}\n" + "".join(lines) + "{{- end }}\n"
    )


def expected(source: Path = SOURCE) -> dict[str, str]:
    """File name -> the text the chart's template must have."""
    return {path.name: template(path.name, path.read_text(encoding="utf-8")) for path in sorted(source.glob("*.yaml"))}


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
    parser.add_argument("--check", action="store_true", help="fail when the chart's CRD templates are not crds/'s")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        plain = sorted(path.name for path in (CHART_CRDS.parents[1] / "crds").glob("*.yaml"))
        if bad or plain:
            print(
                f"charts/odradek-operator/templates/crds/ is stale ({', '.join(bad)}) or the chart has a plain crds/"
                f" ({', '.join(plain)}): run tools/gen_chart_crds.py and remove charts/odradek-operator/crds/"
            )
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
