"""The SASL mechanisms of one listener, read from the configuration at start-up, and their servers.

`sasl.enabled.mechanisms` (or `listener.name.<listener>.sasl.enabled.mechanisms`) lists what SaslHandshake offers,
among PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; naming another (GSSAPI, Kafka's default, or OAUTHBEARER) stops the
broker with a ConfigError, so a listener never advertises a mechanism it cannot run. PLAIN's users come from the
listener's PlainLoginModule JAAS entry (`jaas.plain_users`); SCRAM's from the metadata store, looked up per
exchange through the callable the handler passes (the credentials in force at that moment), so a credential
changed or deleted stops working at the next re-authentication.

Each mechanism's session lifetime (KIP-368) is `listener.name.<listener>.<mechanism>.connections.max.reauth.ms`,
else `listener.name.<listener>.connections.max.reauth.ms`, else `connections.max.reauth.ms` (Kafka's
SaslChannelBuilder order); 0 or less: sessions never end.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from odradek.broker.auth.jaas import parse_jaas_config, plain_users
from odradek.broker.auth.plain import PlainSaslServer
from odradek.broker.auth.sasl import PLAIN, SUPPORTED_MECHANISMS, SaslServer
from odradek.broker.auth.scram import MECHANISMS, ScramCredential, ScramSaslServer
from odradek.broker.config.broker import REAUTH_KEY, BrokerConfig, listener_prefix
from odradek.broker.config.definitions import ConfigError

# (mechanism name, user) -> the stored credential, or None
ScramCredentials = Callable[[str, str], ScramCredential | None]


@dataclass(frozen=True, slots=True)
class ListenerSasl:
    listener: str
    enabled: tuple[str, ...]
    plain_passwords: Mapping[str, str] = field(default_factory=dict, repr=False)
    fake_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    max_reauth_ms: Mapping[str, int] = field(default_factory=dict)  # by mechanism; absent or <= 0: no expiry

    def session_lifetime_ms(self, mechanism: str) -> int:
        """connections.max.reauth.ms for `mechanism` (0: sessions never end)."""
        return max(0, self.max_reauth_ms.get(mechanism, 0))

    def server(self, mechanism: str, scram_credentials: ScramCredentials) -> SaslServer | None:
        """A new server for `mechanism`, None if the listener does not enable it (UNSUPPORTED_SASL_MECHANISM)."""
        if mechanism not in self.enabled:
            return None
        if mechanism == PLAIN:
            return PlainSaslServer(self.plain_passwords)
        scram = MECHANISMS[mechanism]
        return ScramSaslServer(scram, lambda user: scram_credentials(mechanism, user), self.fake_secret)


def listener_sasl(config: BrokerConfig, listener: str) -> ListenerSasl:
    """The SASL set-up of a SASL listener; ConfigError for an unsupported mechanism or PLAIN without users."""
    value = config.listener_get(listener, "sasl.enabled.mechanisms")
    enabled = tuple(value) if isinstance(value, list) else ()
    unsupported = [name for name in enabled if name not in SUPPORTED_MECHANISMS]
    if unsupported or not enabled:
        raise ConfigError(
            f"Listener {listener}: SASL mechanism(s) {', '.join(unsupported) or '(none)'} in sasl.enabled.mechanisms "
            f"not supported; enable some of {', '.join(SUPPORTED_MECHANISMS)} (set sasl.enabled.mechanisms or "
            f"{listener_prefix(listener)}sasl.enabled.mechanisms)"
        )
    passwords: dict[str, str] = {}
    if PLAIN in enabled:
        jaas = config.jaas_config(listener, PLAIN)
        if jaas is None:
            raise ConfigError(
                f"Listener {listener} enables PLAIN but no JAAS configuration names its users: set "
                f"{listener_prefix(listener)}plain.sasl.jaas.config to a PlainLoginModule entry with "
                'user_<name>="<password>" options'
            )
        passwords = plain_users(parse_jaas_config(jaas))
    lifetimes: dict[str, int] = {}
    for mechanism in enabled:
        value = config.listener_mechanism_get(listener, mechanism, REAUTH_KEY)
        lifetimes[mechanism] = value if isinstance(value, int) else 0
    return ListenerSasl(listener, enabled, passwords, max_reauth_ms=lifetimes)
