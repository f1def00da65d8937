import pytest
from odradek.broker.config.broker import build, env_overrides, load, parse_properties
from odradek.broker.config.definitions import ConfigError


def test_properties_syntax() -> None:
    text = "# comment\n! also\nlog.dirs = /a,/b\nnum.partitions: 3\nlisteners=PLAINTEXT://127.0.0.1:\\\n  9093\n\n"
    assert parse_properties(text) == {
        "log.dirs": "/a,/b",
        "num.partitions": "3",
        "listeners": "PLAINTEXT://127.0.0.1:9093",
    }


def test_precedence_file_env_override(tmp_path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("num.partitions=2\nlog.retention.hours=10\n")
    config = load(str(props), ["num.partitions=5"], {"ODRADEK_LOG_RETENTION_HOURS": "20", "HOME": "/x"})
    assert config.get_int("num.partitions") == 5
    assert config.topic_default("retention.ms") == (20 * 3_600_000, "log.retention.hours")


def test_unknown_key_is_rejected_with_its_name() -> None:
    with pytest.raises(ConfigError, match=r"log\.retension\.ms"):
        build([{"log.retension.ms": "5"}])


def test_bad_value_names_key() -> None:
    with pytest.raises(ConfigError, match=r"num\.partitions"):
        build([{"num.partitions": "many"}])
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        build([{"metrics.port": "70000"}])


def test_retention_synonym_precedence() -> None:
    config = build([{"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "3"}])
    assert config.topic_default("retention.ms") == (3, "log.retention.ms")
    config = build([{"log.retention.hours": "1", "log.retention.minutes": "2"}])
    assert config.topic_default("retention.ms") == (120_000, "log.retention.minutes")
    assert build([]).topic_default("retention.ms") == (168 * 3_600_000, None)


def test_env_names_map_to_dotted_keys() -> None:
    assert env_overrides({"ODRADEK_LOG_DIRS": "/d", "ODRADEK_SOME__UNDERSCORE": "x", "OTHER": "y"}) == {
        "log.dirs": "/d",
        "some_underscore": "x",
    }


def test_listeners_and_node_id() -> None:
    config = build([{"listeners": "PLAINTEXT://0.0.0.0:19092", "broker.id": "7"}])
    assert config.listeners[0].port == 19092
    assert config.advertised_listeners == config.listeners
    assert config.node_id == 7
    # An SSL listener is valid configuration (refused at start-up by the server's channel builder until TLS exists:
    # tests/unit/config/test_listener_config.py); a name without a security protocol is not.
    ssl = build([{"listeners": "SSL://h:1", "security.inter.broker.protocol": "SSL"}]).listeners[0]
    assert (ssl.name, ssl.security_protocol.name) == ("SSL", "SSL")
    with pytest.raises(ConfigError, match="No security protocol defined for listener CLIENT"):
        _ = build([{"listeners": "CLIENT://h:1"}]).listeners


def test_configuration_docs_are_generated_from_the_declarations() -> None:
    from odradek.broker.config import docs

    assert docs.main(["--check"]) == 0, "run: python -m odradek.broker.config.docs"
    assert "Broker default: ." not in docs.render_markdown(), "a topic-only key (no broker synonym) says so"
