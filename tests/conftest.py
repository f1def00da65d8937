"""Suite-wide rules.

- Tests marked `slow` run only with ODRADEK_SLOW=1 (`make slow`). Without it they are deselected, not skipped, so
  that the default run (`make test`, CI) reports them as deselected and never counts them among the passes or the
  skips.
- An `async def` test runs in a fresh event loop of its own (no plugin needed).
- Under CI (`CI=true`, as `.ci/run` runs) a skipped test fails the run: the tests that need a server or a tool skip
  when it is missing (etcd, kcat, Go, Burrow, PostgreSQL, mounts, network namespaces), and on CI that means an
  install step is missing from tools/install-test-deps.sh, which must not pass as green.
- At the end, child processes still running are listed with their command lines (their temporary paths name the
  test that started them), and children that exited unreaped (zombies: a Popen dropped without wait()) with the
  test after which each was first seen: every test must stop and reap what it started. (Not yet fatal under CI:
  the fault smoke scenario's SIGKILLed broker still ends a zombie.)
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import subprocess
from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ODRADEK_SLOW") == "1":
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


def _children() -> list[str]:
    """PIDs of this process's children, from every thread's list (Linux /proc; [] elsewhere)."""
    pid = os.getpid()
    children: list[str] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as listing:
                children.extend(listing.read().split())
        except OSError:
            continue  # the thread ended meanwhile
    return children


def _describe(child: str) -> str | None:
    """``<pid>: <command line>``, or ``<pid>: zombie (<name>)`` for a child that exited and was never reaped (a
    dropped Popen: its command line is gone, /proc/<pid>/stat keeps the name); None if it is gone."""
    try:
        with open(f"/proc/{child}/stat", "rb") as stat:
            fields = stat.read().decode(errors="replace")
        with open(f"/proc/{child}/cmdline", "rb") as cmdline:
            command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    name, _, rest = fields.partition("(")[2].rpartition(")")
    if rest.split()[:1] == ["Z"]:
        return f"{child}: zombie ({name})"
    return f"{child}: {command}"


# The zombie children seen so far, each with the test after which it was first seen: a child is a zombie from its
# exit until something waits for it, so the test that dropped its Popen is this one or one shortly before. A child
# seen running after an earlier test (one that outlived the test that started it) is named with that command line
# and test as well.
_ZOMBIES: dict[str, str] = {}
_RUNNING: dict[str, str] = {}  # child -> "<command line>, running after <test>", from the first sighting


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield
    for child in _children():
        if child in _ZOMBIES:
            continue
        description = _describe(child)
        if description is None:
            continue
        if " zombie (" not in description:
            _RUNNING.setdefault(child, f"{description.partition(': ')[2]}, running after {item.nodeid}")
            continue
        _ZOMBIES[child] = f"{description}, first seen after {item.nodeid}{_popen_args(int(child))}"
        if child in _RUNNING:
            _ZOMBIES[child] += f" (earlier: {_RUNNING[child]})"


def _popen_args(pid: int) -> str:
    """The command of a live Popen object for `pid` (the one nobody waited for), if the process holds one."""
    for obj in gc.get_objects():
        if isinstance(obj, subprocess.Popen) and obj.pid == pid:
            return f", a Popen of {obj.args!r}"
    return ""


def _running_children() -> list[str]:
    """What this process's children still running are (command lines, or zombies with where they were first seen)."""
    lines = []
    for child in _children():
        description = _describe(child)
        if description is not None:
            lines.append(_ZOMBIES.get(child, description))
    return lines


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = _running_children()
    for line in left:
        print(f"\nleft running by the tests: {line}")
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == 0:
        for report in skipped:
            print(f"CI: skipped test counts as a failure: {report.nodeid} ({report.longrepr})")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
