"""Argument parsing and input parsing of the CLI tools (no broker)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from odradek.cli import main as cli_main
from odradek.cli.common import CliError, load_properties_file, parse_add_config, parse_key_value_args
from odradek.cli.configs import parse_deletions, resolve_entity
from odradek.cli.console_consumer import OFFSET_BEGINNING, OFFSET_END, start_offset
from odradek.cli.console_producer import LineFormat, line_format, parse_line, strip_newline
from odradek.cli.delete_records import DeleteRequest, parse_offset_json


def parse(*argv: str) -> argparse.Namespace:
    return cli_main.build_parser().parse_args(list(argv))


def test_topics_create_options() -> None:
    args = parse(
        "topics", "--bootstrap-server", "h:1", "--create", "--topic", "t", "--partitions", "3",
        "--replication-factor", "1", "--config", "retention.ms=5", "--config", "cleanup.policy=compact",
        "--if-not-exists",
    )  # fmt: skip
    assert args.create and args.topic == "t" and args.partitions == 3 and args.replication_factor == 1
    assert parse_key_value_args(args.config) == {"retention.ms": "5", "cleanup.policy": "compact"}
    assert args.bootstrap_server == "h:1" and args.if_not_exists


def test_topics_needs_exactly_one_action(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code("topics", "--list", "--describe") == 2
    assert _exit_code("topics") == 2
    assert "one of the arguments" in capsys.readouterr().err


def _exit_code(*argv: str) -> int:
    with pytest.raises(SystemExit) as info:
        cli_main.main(list(argv))
    return int(info.value.code or 0)


def test_default_bootstrap_is_local_9092() -> None:
    assert parse("topics", "--list").bootstrap_server == "127.0.0.1:9092"


def test_configs_entity_resolution() -> None:
    args = parse("configs", "--describe", "--entity-type", "topics", "--entity-name", "t")
    assert resolve_entity(args) == ("topics", "t")
    assert resolve_entity(parse("configs", "--describe", "--topic", "x")) == ("topics", "x")
    args = parse("configs", "--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "a=b")
    assert resolve_entity(args) == ("brokers", "")
    with pytest.raises(CliError, match="integer broker id"):
        resolve_entity(parse("configs", "--describe", "--entity-type", "brokers", "--entity-name", "x"))
    with pytest.raises(CliError, match="--entity-name is required"):
        resolve_entity(parse("configs", "--alter", "--entity-type", "topics", "--add-config", "a=b"))


def test_entity_type_choices() -> None:
    # topics, brokers, users and clients are served; Kafka's ips (connection_creation_rate quotas) is not
    assert _exit_code("configs", "--describe", "--entity-type", "ips", "--entity-name", "10.0.0.1") == 2


def test_add_config_and_delete_config_parsing() -> None:
    assert parse_add_config("retention.ms=1000, cleanup.policy=compact,ssl.endpoint.identification.algorithm=") == {
        "retention.ms": "1000",
        "cleanup.policy": "compact",
        "ssl.endpoint.identification.algorithm": "",
    }
    with pytest.raises(CliError, match='"key=val" or "key=\\[val1,val2\\]"'):
        parse_add_config("retention.ms")
    assert parse_deletions(["a,b", "c"]) == ["a", "b", "c"]


def test_offset_json_parsing() -> None:
    entries = [{"topic": "t", "partition": 0, "offset": 5}, {"topic": "t", "partition": 1, "offset": -1}]
    text = json.dumps({"partitions": entries, "version": 1})
    assert parse_offset_json(text) == [DeleteRequest("t", 0, 5), DeleteRequest("t", 1, -1)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "partitions"),
        ('{"partitions": [], "version": 1}', "doesn't contain any partitions"),
        ('{"partitions": [{"topic": "t", "partition": 0, "offset": 1}], "version": 2}', "version"),
        ('{"partitions": [{"partition": 0, "offset": 1}]}', "topic"),
        ('{"partitions": [{"topic": "t", "partition": "0", "offset": 1}]}', "partition"),
        ('{"partitions": [{"topic": "t", "partition": 0, "offset": -5}]}', "offset"),
        ('{"partitions": [{"topic": "t", "partition": 0, "offset": true}]}', "offset"),
        (
            '{"partitions": [{"topic": "t", "partition": 0, "offset": 1}, '
            '{"topic": "t", "partition": 0, "offset": 2}]}',
            "duplicate topic partitions: t-0",
        ),
    ],
)
def test_offset_json_errors(text: str, message: str) -> None:
    with pytest.raises(CliError, match=message):
        parse_offset_json(text)


def test_console_producer_line_parsing() -> None:
    fmt = line_format({"parse.key": "true", "key.separator": ":"})
    assert parse_line(b"k:v:w", 1, fmt) == (b"k", b"v:w", [])
    assert parse_line(b"plain", 1, LineFormat()) == (None, b"plain", [])
    with pytest.raises(CliError, match="No key separator found on line number 3"):
        parse_line(b"novalue", 3, fmt)
    marker = line_format({"parse.key": "true", "null.marker": "<null>"})
    assert parse_line(b"<null>\tv", 1, marker) == (None, b"v", [])
    assert strip_newline(b"a\r\n") == b"a" and strip_newline(b"a\n") == b"a" and strip_newline(b"a") == b"a"


def test_console_consumer_offsets() -> None:
    assert start_offset(None, False) == OFFSET_END
    assert start_offset(None, True) == OFFSET_BEGINNING
    assert start_offset("earliest", False) == OFFSET_BEGINNING
    assert start_offset("latest", False) == OFFSET_END
    assert start_offset("42", False) == 42
    for bad in ("-3", "soon"):
        with pytest.raises(CliError):
            start_offset(bad, False)
    with pytest.raises(CliError):
        start_offset("5", True)


def test_console_consumer_group_and_include_options() -> None:
    args = parse("console-consumer", "--include", "orders-.*", "--group", "g", "--from-beginning")
    assert args.topic is None and args.include == "orders-.*" and args.group == "g" and args.from_beginning
    assert cli_main.main(["console-consumer", "--group", "g"]) == 1  # neither --topic nor --include


def test_perf_test_options() -> None:
    args = parse(
        "producer-perf-test", "--topic", "t", "--num-records", "10", "--record-size", "100",
        "--throughput", "-1", "--producer-props", "bootstrap.servers=h:1", "acks=all",
    )  # fmt: skip
    assert args.producer_props == ["bootstrap.servers=h:1", "acks=all"]
    args = parse("consumer-perf-test", "--topic", "t", "--messages", "5", "--timeout", "100")
    assert args.messages == 5 and args.timeout == 100 and not args.show_detailed_stats


def test_producer_perf_requires_bootstrap(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main.main(["producer-perf-test", "--topic", "t", "--num-records", "1", "--record-size", "1",
                          "--throughput", "-1"])  # fmt: skip
    assert code == 1 and "bootstrap" in capsys.readouterr().err


def test_properties_file(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("# comment\nclient.id = me\nsecurity.protocol: PLAINTEXT\n\n! other\n")
    assert load_properties_file(str(path)) == {"client.id": "me", "security.protocol": "PLAINTEXT"}
    with pytest.raises(CliError, match="Cannot read"):
        load_properties_file(str(tmp_path / "missing"))


def test_unreachable_broker_is_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from odradek.cli import common

    monkeypatch.setattr(common, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        code = cli_main.main(["topics", "--list", "--bootstrap-server", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("Error: Cannot reach broker") and err.count("\n") == 1


def test_missing_delegate_module_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real_import = importlib.import_module

    def fake_import(name: str) -> object:
        if name == "odradek.broker.log.dump_log":
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    assert cli_main.main(["dump-log", "--files", "x.log"]) == 1
    assert "not available" in capsys.readouterr().err


def test_delegate_passes_arguments_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import types

    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    fake = types.SimpleNamespace(main=fake_main)
    monkeypatch.setattr(importlib, "import_module", lambda name: fake)
    assert cli_main.main(["broker", "server.properties", "--override", "a=b"]) == 3
    assert seen == [["server.properties", "--override", "a=b"]]


def test_configs_entity_default_is_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """librdkafka cannot name the cluster-wide default broker resource (""); say so, send nothing else."""
    for action in (["--alter", "--add-config", "log.retention.ms=1"], ["--describe"]):
        argv = ["configs", "--bootstrap-server", "127.0.0.1:1", "--entity-type", "brokers", "--entity-default"]
        assert cli_main.main([*argv, *action]) == 1
        err = capsys.readouterr().err
        assert err.startswith("Error: the cluster-wide default broker config") and "librdkafka" in err
        assert "--entity-name <id>" in err
