from collections.abc import Iterator
from typing import Any

import pytest
from odradek.broker.log.log import Log


@pytest.fixture(autouse=True)
def close_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every Log a test opened (pytest turns unclosed-file ResourceWarnings into errors)."""
    opened: list[Log] = []
    original = Log.open.__func__  # type: ignore[attr-defined]

    def tracking_open(cls: type[Log], *args: Any, **kwargs: Any) -> Log:
        log: Log = original(cls, *args, **kwargs)
        opened.append(log)
        return log

    monkeypatch.setattr(Log, "open", classmethod(tracking_open))
    yield
    for log in opened:
        log.close()
