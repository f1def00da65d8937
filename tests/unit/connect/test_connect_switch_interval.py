"""The GIL switch interval of Connect and MirrorMaker processes: 1 ms unless ODRADEK_SWITCH_INTERVAL_MS says."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from odradek.connect.main import standalone_main
from odradek.connect.runtime.gil import SwitchIntervalError, configure_switch_interval, switch_interval_s
from odradek.mirror.main import mirror_maker_main


@pytest.fixture(autouse=True)
def keep_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_default_is_one_millisecond() -> None:
    sys.setswitchinterval(0.005)
    assert configure_switch_interval({}) == pytest.approx(0.001)
    assert sys.getswitchinterval() == pytest.approx(0.001)


def test_the_variable_sets_it() -> None:
    assert switch_interval_s({"ODRADEK_SWITCH_INTERVAL_MS": " 5 "}) == pytest.approx(0.005)
    assert configure_switch_interval({"ODRADEK_SWITCH_INTERVAL_MS": "0.5"}) == pytest.approx(0.0005)
    assert sys.getswitchinterval() == pytest.approx(0.0005)


@pytest.mark.parametrize("raw", ["0", "-1", "fast", "inf", "nan"])
def test_a_bad_value_is_refused(raw: str) -> None:
    with pytest.raises(SwitchIntervalError, match="ODRADEK_SWITCH_INTERVAL_MS"):
        switch_interval_s({"ODRADEK_SWITCH_INTERVAL_MS": raw})


def test_the_processes_set_it_before_reading_their_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """connect-standalone and mirror-maker set the interval first (a missing config file fails after it)."""
    for main in (standalone_main, mirror_maker_main):
        sys.setswitchinterval(0.005)
        monkeypatch.delenv("ODRADEK_SWITCH_INTERVAL_MS", raising=False)
        assert main(["/nonexistent/worker.properties"]) == 1
        assert sys.getswitchinterval() == pytest.approx(0.001)
        monkeypatch.setenv("ODRADEK_SWITCH_INTERVAL_MS", "nope")
        assert main(["/nonexistent/worker.properties"]) == 1
        assert "ODRADEK_SWITCH_INTERVAL_MS" in capsys.readouterr().err
