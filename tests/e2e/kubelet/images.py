"""The images the test kubelet can run, and how: there is no container runtime here, so an image is a recipe for
running its program on this machine (the repository's packages for the broker image, /usr/bin/etcd for etcd).

The broker image's ENTRYPOINT and CMD are read from the Containerfile (`images/broker/Containerfile`), so a pod
without a `command` runs what the image would run; the pods the operator builds set `command` (`sh -c "exec python
-m odradek.broker /etc/odradek/server.properties --override ..."`, resources/cluster.py `broker_command`), which
runs here with `python` on PATH being this interpreter and PYTHONPATH the worktree's packages (the image installs
them with pip).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CONTAINERFILE = REPO / "images" / "broker" / "Containerfile"
ETCD = "/usr/bin/etcd"


@dataclass(frozen=True, slots=True)
class LocalImage:
    """`repository`: the image name without registry host and tag matches when it ends with this (`odradek`
    matches `ghcr.io/odradek/odradek:0.1.0`). `path`: folders put first on PATH; `env`: added variables;
    `entrypoint`/`cmd`: Docker's, used when a container has no command/args."""

    repository: str
    path: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()

    def matches(self, image: str) -> bool:
        name = image.split("@", 1)[0]
        if re.search(r":[^/]+$", name):
            name = name.rsplit(":", 1)[0]
        return name == self.repository or name.endswith("/" + self.repository)


def containerfile_exec(name: str, path: Path = CONTAINERFILE) -> tuple[str, ...]:
    """The exec form (JSON array) of the last `ENTRYPOINT` or `CMD` instruction of a Containerfile."""
    found: tuple[str, ...] = ()
    for line in path.read_text().splitlines():
        if line.startswith(name + " "):
            value = json.loads(line[len(name) + 1 :])
            if not isinstance(value, list):
                raise ValueError(f"{path}: {name} must use the exec form")
            found = tuple(str(v) for v in value)
    return found


def python_bin(folder: Path) -> str:
    """A folder with `python` and `python3` that are this interpreter and the `odradek` command (what the broker
    image has on PATH: pip installs the console script of pyproject.toml's [project.scripts])."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        link = folder / name
        if not link.exists():
            link.symlink_to(sys.executable)
    script = folder / "odradek"
    if not script.exists():
        script.write_text(f"#!{sys.executable}\nimport sys\nfrom odradek.cli.main import main\nsys.exit(main())\n")
        script.chmod(0o755)
    return str(folder)


def default_images(workdir: Path) -> Sequence[LocalImage]:
    packages = os.pathsep.join(str(REPO / part) for part in ("broker", "connect", "mirror", "operator"))
    broker = LocalImage(
        "odradek",
        path=(python_bin(workdir / "bin"),),
        env={"PYTHONPATH": packages, "PYTHONUNBUFFERED": "1"},
        entrypoint=containerfile_exec("ENTRYPOINT"),
        cmd=containerfile_exec("CMD"),
    )
    etcd = LocalImage("etcd", path=(str(Path(ETCD).parent),), entrypoint=(ETCD,))
    return (broker, etcd)
