"""What the broker's own client needs to connect to the other brokers' inter-broker listener, read once at start-up
from the broker's configuration as Kafka's inter-broker clients read it (ChannelBuilders.clientChannelBuilder with
the inter-broker listener name):

- the listener and its security protocol: `inter.broker.listener.name`, else `security.inter.broker.protocol`;
- SSL and SASL_SSL: the client SSLContext from the listener's `listener.name.<l>.ssl.*` over `ssl.*` keys
  (`ssl_factory.client_context`: the keystore is the client certificate for mTLS, the truststore verifies the
  other broker);
- SASL_PLAINTEXT and SASL_SSL: `sasl.mechanism.inter.broker.protocol` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; GSSAPI,
  Kafka's default, is not implemented and stops the broker with a ConfigError naming the key), and the credentials
  from the `username` and `password` options of the listener's JAAS entry for that mechanism
  (`listener.name.<l>.<mechanism>.sasl.jaas.config`, else `listener.name.<l>.sasl.jaas.config`, else
  `sasl.jaas.config`): the same entry that, for PLAIN, lists the users the listener accepts.

The broker authenticates as `User:<username>` (SASL) or as its certificate's subject (SSL): that principal must
be a super user (`super.users`) or hold CLUSTER_ACTION on the cluster for follower Fetch and WriteTxnMarkers when
an authorizer is on.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from odradek.broker.auth.jaas import parse_jaas_config
from odradek.broker.auth.sasl import SUPPORTED_MECHANISMS
from odradek.broker.auth.sasl_client import SaslClient, sasl_client
from odradek.broker.auth.ssl_factory import client_context
from odradek.broker.config.broker import BrokerConfig, listener_prefix
from odradek.broker.config.definitions import ConfigError, ConfigValue

MECHANISM_KEY = "sasl.mechanism.inter.broker.protocol"


@dataclass(frozen=True, slots=True)
class InterBrokerClientConfig:
    """The inter-broker listener's name and security protocol, the client TLS context (SSL, SASL_SSL), the SASL
    mechanism and credentials (SASL_*)."""

    listener: str
    security_protocol: str
    ssl_context: ssl.SSLContext | None = None
    mechanism: str | None = None
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def principal(self) -> str:
        if self.mechanism is not None:
            return f"User:{self.username}"
        return "the keystore's certificate subject" if self.ssl_context is not None else "User:ANONYMOUS"

    def sasl_client_factory(self) -> Callable[[], SaslClient] | None:
        """A factory of a fresh SASL client per connection; None without SASL."""
        mechanism = self.mechanism
        if mechanism is None:
            return None
        username, password = self.username, self.password
        return lambda: sasl_client(mechanism, username, password)


def inter_broker_client_config(config: BrokerConfig) -> InterBrokerClientConfig:
    """Read at start-up, before any I/O; ConfigError naming the key when something cannot be used."""
    listener, protocol = config.inter_broker_listener

    def get(key: str) -> ConfigValue:
        return config.listener_get(listener, key)

    context = client_context(listener, get) if protocol.name in ("SSL", "SASL_SSL") else None
    if not protocol.name.startswith("SASL_"):
        return InterBrokerClientConfig(listener, protocol.name, context)
    mechanism = config.get_str(MECHANISM_KEY) or "GSSAPI"
    if mechanism not in SUPPORTED_MECHANISMS:
        raise ConfigError(
            f"The inter-broker listener {listener} is {protocol.name} and {MECHANISM_KEY} is {mechanism}, which "
            f"Odradek does not implement: set {MECHANISM_KEY} to one of {', '.join(SUPPORTED_MECHANISMS)}"
        )
    jaas_key = f"{listener_prefix(listener)}{mechanism.lower()}.sasl.jaas.config"
    text = config.jaas_config(listener, mechanism)
    entries = parse_jaas_config(text, jaas_key) if text is not None else []
    credentials = next(
        ((e.options["username"], e.options["password"]) for e in entries if {"username", "password"} <= set(e.options)),
        None,
    )
    if credentials is None:
        raise ConfigError(
            f"The inter-broker listener {listener} uses SASL {mechanism} but no JAAS entry gives the broker's own "
            f'credentials: set {jaas_key} with username="..." password="..." options'
        )
    return InterBrokerClientConfig(listener, protocol.name, context, mechanism, credentials[0], credentials[1])
