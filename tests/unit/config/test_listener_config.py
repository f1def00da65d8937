"""Listener configuration as Kafka reads it: listener.security.protocol.map, named listeners, the inter-broker
listener and the checks of KafkaConfig.validateValues; unsupported protocols refused by the server at start-up."""

from __future__ import annotations

import pytest
from odradek.broker.config.broker import Listener, SecurityProtocol, build, parse_security_protocol_map
from odradek.broker.config.definitions import BROKER_BY_NAME, ConfigError
from odradek.broker.server import PlaintextChannelBuilder, channel_builder

TWO = {
    "listeners": "CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
    "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT",
    "inter.broker.listener.name": "INTERNAL",
}


def test_default_map_is_kafkas_one_name_per_protocol() -> None:
    default = BROKER_BY_NAME["listener.security.protocol.map"].default
    assert isinstance(default, str)
    assert parse_security_protocol_map(default) == {p.name: p for p in SecurityProtocol}
    assert [int(p) for p in SecurityProtocol] == [0, 1, 2, 3]  # Kafka's SecurityProtocol ids
    assert build([]).listeners == [Listener("PLAINTEXT", "127.0.0.1", 9092, SecurityProtocol.PLAINTEXT)]


def test_named_listeners_mapped_to_plaintext() -> None:
    config = build([TWO])
    assert [(item.name, item.port, item.security_protocol) for item in config.listeners] == [
        ("CLIENT", 9092, SecurityProtocol.PLAINTEXT),
        ("INTERNAL", 9093, SecurityProtocol.PLAINTEXT),
    ]
    assert config.inter_broker_listener == ("INTERNAL", SecurityProtocol.PLAINTEXT)


def test_names_and_protocols_are_case_insensitive() -> None:
    config = build(
        [
            {
                "listeners": "client://127.0.0.1:1",
                "listener.security.protocol.map": "Client:plaintext",
                "inter.broker.listener.name": "client",
            }
        ]
    )
    assert config.listeners[0].name == "CLIENT"
    assert config.inter_broker_listener == ("CLIENT", SecurityProtocol.PLAINTEXT)


def test_inter_broker_listener_defaults_to_the_one_named_after_the_protocol() -> None:
    assert build([]).inter_broker_listener == ("PLAINTEXT", SecurityProtocol.PLAINTEXT)
    ssl = build([{"listeners": "SSL://h:1", "security.inter.broker.protocol": "SSL"}])
    assert ssl.inter_broker_listener == ("SSL", SecurityProtocol.SSL)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"listeners": "CLIENT://h:1"}, "No security protocol defined for listener CLIENT"),
        ({"listener.security.protocol.map": "PLAINTEXT:TLS"}, "Invalid security protocol `TLS` defined in listener"),
        ({"listener.security.protocol.map": "PLAINTEXT"}, "Error parsing configuration property"),
        ({"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,plaintext:SSL"}, "PLAINTEXT appears twice"),
        ({"listeners": "PLAINTEXT://h"}, "Unable to parse PLAINTEXT://h to a broker endpoint"),
        ({**TWO, "inter.broker.listener.name": None}, "inter.broker.listener.name must be a listener name defined"),
        ({**TWO, "inter.broker.listener.name": "OTHER"}, "Listener with name OTHER defined in inter.broker"),
        ({**TWO, "security.inter.broker.protocol": "PLAINTEXT"}, "Only one of inter.broker.listener.name and"),
        ({"security.inter.broker.protocol": "TLS"}, "Invalid security protocol `TLS` defined in security.inter"),
        ({"listeners": "PLAINTEXT://h:1,plaintext://h:2"}, "Each listener must have a different name"),
        (
            {**TWO, "listeners": "CLIENT://h:1,INTERNAL://h:1"},
            "Each listener must have a different port",
        ),
        (
            {
                **TWO,
                "advertised.listeners": "CLIENT://h:1,OTHER://h:2",
                "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,OTHER:PLAINTEXT",
            },
            "advertised.listeners listener names must be equal to or a subset",
        ),
        ({**TWO, "advertised.listeners": "CLIENT://h:1"}, "inter.broker.listener.name must be a listener name"),
    ],
)
def test_invalid_listener_configs_are_refused(raw: dict[str, str | None], message: str) -> None:
    layer = {key: value for key, value in raw.items() if value is not None}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build([layer])


def test_secured_listeners_without_their_settings_are_refused_at_start_up() -> None:
    config = build([{"listeners": "PLAINTEXT://h:1,SSL://h:2,SASL_PLAINTEXT://h:3,SASL_SSL://h:4"}])
    plaintext, ssl_listener, *sasl = config.listeners
    assert isinstance(channel_builder(plaintext, config), PlaintextChannelBuilder)
    with pytest.raises(ConfigError, match=r"Listener SSL uses TLS but has no key: set ssl\.keystore\.location"):
        channel_builder(ssl_listener, config)
    for listener in sasl:  # Kafka's default mechanism, GSSAPI, is not implemented
        with pytest.raises(ConfigError, match=f"Listener {listener.name}: SASL mechanism.*GSSAPI.*not supported"):
            channel_builder(listener, config)
