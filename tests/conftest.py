"""Suite-wide rules.

- Tests marked `slow` run only with ODRADEK_SLOW=1 (`make slow`). Without it they are deselected, not skipped, so
  that the default run (`make test`, CI) reports them as deselected and never counts them among the passes or the
  skips.
- An `async def` test runs in a fresh event loop of its own (no plugin needed).
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
