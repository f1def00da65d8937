"""The SASL mechanisms of one listener, read from the configuration at start-up, and their servers.

`sasl.enabled.mechanisms` (or `listener.name.<listener>.sasl.enabled.mechanisms`) lists what SaslHandshake offers, among
PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER; naming another (GSSAPI, Kafka's default) stops the broker with a
ConfigError, so a listener never advertises a mechanism it cannot run. PLAIN's users come from the listener's
PlainLoginModule JAAS entry (`jaas.plain_users`); SCRAM's from the metadata store, looked up per exchange through the
callable the handler passes (the credentials in force at that moment), so a credential changed or deleted stops working
at the next re-authentication. OAUTHBEARER's validator is chosen as Kafka's SaslChannelBuilder chooses its callback
handler: `listener.name.<listener>.oauthbearer.sasl.server.callback.handler.class` (or the listener's or broker's
`sasl.server.callback.handler.class`) unset: the unsecured validator, configured by the OAuthBearerLoginModule options
of the listener's JAAS entry; Kafka's OAuthBearerValidatorCallbackHandler: the JWKS validator on the
`sasl.oauthbearer.*` keys; any other class: ConfigError.

Each mechanism's session lifetime (KIP-368) is `listener.name.<listener>.<mechanism>.connections.max.reauth.ms`,
else `listener.name.<listener>.connections.max.reauth.ms`, else `connections.max.reauth.ms` (Kafka's
SaslChannelBuilder order); 0 or less: sessions never end.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from odradek.broker.auth.jaas import OAUTHBEARER_LOGIN_MODULE, login_module_options, parse_jaas_config, plain_users
from odradek.broker.auth.oauthbearer import OAuthBearerSaslServer, OAuthBearerValidator
from odradek.broker.auth.oauthbearer_validators import (
    JWKS_VALIDATORS,
    UNSECURED_VALIDATOR,
    JwksVerificationKeyResolver,
    JwtValidatorConfig,
    OAuthBearerJwksValidator,
    OAuthBearerUnsecuredValidator,
)
from odradek.broker.auth.plain import PlainSaslServer
from odradek.broker.auth.sasl import OAUTHBEARER, PLAIN, SUPPORTED_MECHANISMS, SaslServer
from odradek.broker.auth.scram import MECHANISMS, ScramCredential, ScramSaslServer
from odradek.broker.config.broker import CALLBACK_HANDLER_KEY, REAUTH_KEY, BrokerConfig, listener_prefix
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
    oauthbearer: OAuthBearerValidator | None = None  # when OAUTHBEARER is enabled
    jwks: JwksVerificationKeyResolver | None = None  # when its validator is the JWKS one

    async def start(self) -> None:
        """The I/O a listener needs before it serves: the first JWKS fetch (in a worker thread)."""
        if self.jwks is not None:
            await self.jwks.start()

    def session_lifetime_ms(self, mechanism: str) -> int:
        """connections.max.reauth.ms for `mechanism` (0: sessions never end)."""
        return max(0, self.max_reauth_ms.get(mechanism, 0))

    def server(self, mechanism: str, scram_credentials: ScramCredentials) -> SaslServer | None:
        """A new server for `mechanism`, None if the listener does not enable it (UNSUPPORTED_SASL_MECHANISM)."""
        if mechanism not in self.enabled:
            return None
        if mechanism == PLAIN:
            return PlainSaslServer(self.plain_passwords)
        if mechanism == OAUTHBEARER:
            assert self.oauthbearer is not None
            return OAuthBearerSaslServer(self.oauthbearer)
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
    validator, jwks = oauthbearer_validator(config, listener) if OAUTHBEARER in enabled else (None, None)
    return ListenerSasl(listener, enabled, passwords, max_reauth_ms=lifetimes, oauthbearer=validator, jwks=jwks)


def oauthbearer_validator(
    config: BrokerConfig, listener: str
) -> tuple[OAuthBearerValidator, JwksVerificationKeyResolver | None]:
    """The listener's OAUTHBEARER validator (and its JWKS resolver, if it has one), as the module docstring says."""
    handler = config.listener_mechanism_get(listener, OAUTHBEARER, CALLBACK_HANDLER_KEY)
    key = f"{listener_prefix(listener)}oauthbearer.{CALLBACK_HANDLER_KEY}"
    if handler is None or handler == UNSECURED_VALIDATOR:
        jaas = config.jaas_config(listener, OAUTHBEARER)
        options = login_module_options(parse_jaas_config(jaas), OAUTHBEARER_LOGIN_MODULE) if jaas else {}
        try:
            return OAuthBearerUnsecuredValidator(options), None
        except ValueError as exc:
            raise ConfigError(f"Listener {listener}: {exc}") from None
    if handler not in JWKS_VALIDATORS:
        raise ConfigError(
            f"Invalid {key}: {handler!r}; accepted: unset (the unsecured validator) or "
            f"{', '.join(sorted(JWKS_VALIDATORS))}"
        )
    url = config.listener_get(listener, "sasl.oauthbearer.jwks.endpoint.url")
    if not isinstance(url, str) or not url.startswith(("file:", "https:")):
        raise ConfigError(
            f"Listener {listener}: {handler} needs sasl.oauthbearer.jwks.endpoint.url, a file: or https: URL"
        )

    def get(name: str) -> object:
        return config.listener_get(listener, f"sasl.oauthbearer.{name}")

    audience, issuer = get("expected.audience"), get("expected.issuer")
    sub, scope, skew = get("sub.claim.name"), get("scope.claim.name"), get("clock.skew.seconds")
    refresh, backoff = get("jwks.endpoint.refresh.ms"), get("jwks.endpoint.retry.backoff.ms")
    assert isinstance(sub, str) and isinstance(scope, str) and isinstance(skew, int)
    assert isinstance(refresh, int) and isinstance(backoff, int)
    validator_config = JwtValidatorConfig(
        frozenset(audience) if isinstance(audience, list) else frozenset(),
        issuer if isinstance(issuer, str) else None,
        sub,
        scope,
        skew,
    )
    resolver = JwksVerificationKeyResolver(url, refresh, backoff)
    return OAuthBearerJwksValidator(validator_config, resolver), resolver
