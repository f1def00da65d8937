"""Suite-wide rules.

- Tests marked `slow` run only with ODRADEK_SLOW=1 (`make slow`). Without it they are deselected, not skipped, so
  that the default run (`make test`, CI) reports them as deselected and never counts them among the passes or the
  skips.
- An `async def` test runs in a fresh event loop of its own (no plugin needed).
- Under CI (`CI=true`, as `.ci/run` runs) a skipped test fails the run: the tests that need a server or a tool skip
  when it is missing (etcd, kcat, Go, Burrow, PostgreSQL, mounts, network namespaces), and on CI that means an
  install step is missing from tools/install-test-deps.sh, which must not pass as green.
- At the end, child processes still running are listed with their command lines (their temporary paths name the
  test that started them): every test must stop and reap what it started.
"""

from __future__ import annotations

import asyncio
import inspect
import os

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


def _running_children() -> list[str]:
    """Command lines of this process's children that are still running (Linux /proc; [] elsewhere)."""
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            children = listing.read().split()
    except OSError:
        return []
    lines = []
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                lines.append(f"{child}: " + cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip())
        except OSError:
            continue  # exited meanwhile
    return lines


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for line in _running_children():
        print(f"\nleft running by the tests: {line}")
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == 0:
        for report in skipped:
            print(f"CI: skipped test counts as a failure: {report.nodeid} ({report.longrepr})")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
