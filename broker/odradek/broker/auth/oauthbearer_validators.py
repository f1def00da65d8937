"""The two OAUTHBEARER token validators Kafka ships, chosen as Kafka chooses them (`oauthbearer_validator`).

A token is a JWS in compact form, `base64url(header).base64url(claims).base64url(signature)`; times (`exp`,
`iat`, `nbf`) are epoch seconds, possibly fractional.

- `OAuthBearerUnsecuredValidator` (Kafka's default, OAuthBearerUnsecuredValidatorCallbackHandler): an unsigned JWS
  (`alg` "none", empty signature part); `exp` required, `iat` optional, both within
  `unsecuredValidatorAllowableClockSkewMs` (default 0); the principal from `unsecuredValidatorPrincipalClaimName`
  (default `sub`); the scope from `unsecuredValidatorScopeClaimName` (default `scope`, a space-separated string or a
  list) must hold every name of `unsecuredValidatorRequiredScope` (comma or space separated). Anyone can mint such a
  token: for development only.
- `OAuthBearerJwksValidator` (KIP-768's OAuthBearerValidatorCallbackHandler): the signature (RS256 or ES256) is
  checked with the key of the token's `kid` in the JWKS at `sasl.oauthbearer.jwks.endpoint.url`; `exp` and `iat`
  required, `nbf` honoured, all within `sasl.oauthbearer.clock.skew.seconds`; `aud` must hold one of
  `sasl.oauthbearer.expected.audience` and `iss` equal `sasl.oauthbearer.expected.issuer` when those are set; the
  principal from `sasl.oauthbearer.sub.claim.name`, the scope from `sasl.oauthbearer.scope.claim.name`.

`JwksVerificationKeyResolver` holds the JWKS. Fetching is I/O (a `file:` read or an HTTPS GET): it runs in a worker
thread, at start-up (awaited before the listener serves) and then, never awaited by a login, whenever the keys are
older than `sasl.oauthbearer.jwks.endpoint.refresh.ms` or a token names an unknown `kid` (at most once per
`sasl.oauthbearer.jwks.endpoint.retry.backoff.ms`). A failed fetch is logged and keeps the keys it had; with no keys,
logins are refused.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from odradek.broker.auth.oauthbearer import OAuthBearerToken, OAuthBearerValidationError, wall_clock_ms

log = logging.getLogger(__name__)

UNSECURED_VALIDATOR = (
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"
)
JWKS_VALIDATORS = frozenset(
    {
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
        "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
    }
)
VerificationKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def base64url_decode(text: str) -> bytes:
    """RFC 7515 base64url without padding; OAuthBearerValidationError if malformed."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise OAuthBearerValidationError("malformed base64url in the token") from None


@dataclass(frozen=True, slots=True)
class JsonWebSignature:
    """A compact JWS, split and decoded: `signing_input` is `header.claims` as sent, what the signature covers."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> JsonWebSignature:
        parts = token.split(".")
        if len(parts) != 3:
            raise OAuthBearerValidationError("a JWS must have three dot-separated parts")
        header, claims = (_json_object(base64url_decode(part)) for part in parts[:2])
        return cls(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), base64url_decode(parts[2]))


def _json_object(raw: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise OAuthBearerValidationError("a JWS part is not JSON") from None
    if not isinstance(value, dict):
        raise OAuthBearerValidationError("a JWS part is not a JSON object")
    return value


def _time_ms(claims: Mapping[str, Any], name: str, required: bool) -> int | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise OAuthBearerValidationError(f"required claim missing: {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OAuthBearerValidationError(f"claim {name} is not a number")
    return int(value * 1000)


def _principal(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise OAuthBearerValidationError(f"required claim missing or not a non-empty string: {name}")
    return value


def _scope(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    value = claims.get(name)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise OAuthBearerValidationError(f"claim {name} is neither a string nor a list of strings")


def _check_times(claims: Mapping[str, Any], now_ms: int, skew_ms: int, require_iat: bool) -> tuple[int, int | None]:
    """(exp, iat) in ms, checked against now within the skew."""
    exp = _time_ms(claims, "exp", required=True)
    assert exp is not None
    if now_ms > exp + skew_ms:
        raise OAuthBearerValidationError(f"the token expired at {exp} ms (now {now_ms} ms, skew {skew_ms} ms)")
    iat = _time_ms(claims, "iat", required=require_iat)
    if iat is not None and now_ms + skew_ms < iat:
        raise OAuthBearerValidationError(f"the token's iat ({iat} ms) is in the future (now {now_ms} ms)")
    nbf = _time_ms(claims, "nbf", required=False)
    if nbf is not None and now_ms + skew_ms < nbf:
        raise OAuthBearerValidationError(f"the token is not valid before {nbf} ms (now {now_ms} ms)")
    return exp, iat


class OAuthBearerUnsecuredValidator:
    """Kafka's OAuthBearerUnsecuredValidatorCallbackHandler; `options` are its JAAS options (names as Kafka's)."""

    def __init__(self, options: Mapping[str, str], now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.principal_claim = options.get("unsecuredValidatorPrincipalClaimName", "").strip() or "sub"
        self.scope_claim = options.get("unsecuredValidatorScopeClaimName", "").strip() or "scope"
        self.required_scope = frozenset(options.get("unsecuredValidatorRequiredScope", "").replace(",", " ").split())
        skew = options.get("unsecuredValidatorAllowableClockSkewMs", "").strip() or "0"
        if not skew.isdigit():
            raise ValueError(f"unsecuredValidatorAllowableClockSkewMs must be a non-negative integer, not {skew!r}")
        self.skew_ms = int(skew)
        self._now_ms = now_ms

    def validate(self, token_value: str) -> OAuthBearerToken:
        jws = JsonWebSignature.parse(token_value)
        if jws.header.get("alg") != "none" or jws.signature:
            raise OAuthBearerValidationError("an unsecured JWS must have alg 'none' and no signature")
        exp, iat = _check_times(jws.claims, self._now_ms(), self.skew_ms, require_iat=False)
        principal = _principal(jws.claims, self.principal_claim)
        scope = _scope(jws.claims, self.scope_claim)
        missing = self.required_scope - scope
        if missing:
            raise OAuthBearerValidationError(
                f"the token's scope lacks {' '.join(sorted(missing))}", " ".join(sorted(self.required_scope))
            )
        return OAuthBearerToken(token_value, principal, scope, exp, iat)


def jwks_keys(document: bytes) -> dict[str, VerificationKey]:
    """A JWKS document (RFC 7517) to its usable keys by `kid` ("" for a key without one): RSA, and EC on P-256."""
    keys: dict[str, VerificationKey] = {}
    for jwk in _json_object(document).get("keys", []):
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            if jwk.get("kty") == "RSA":
                numbers = rsa.RSAPublicNumbers(_integer(jwk["e"]), _integer(jwk["n"]))
                keys[str(jwk.get("kid", ""))] = numbers.public_key()
            elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                point = ec.EllipticCurvePublicNumbers(_integer(jwk["x"]), _integer(jwk["y"]), ec.SECP256R1())
                keys[str(jwk.get("kid", ""))] = point.public_key()
        except (KeyError, TypeError, ValueError, OAuthBearerValidationError) as exc:
            log.warning("JWKS: key %r skipped: %s", jwk.get("kid"), exc)
    return keys


def _integer(text: Any) -> int:
    if not isinstance(text, str):
        raise TypeError("a JWK number must be a base64url string")
    return int.from_bytes(base64url_decode(text), "big")


def fetch_jwks(url: str, timeout_s: float = 10.0) -> bytes:
    """Blocking: the JWKS document at a `file:` or `https:` URL (Kafka accepts only these two)."""
    if not url.startswith(("file:", "https:")):
        raise ValueError(f"sasl.oauthbearer.jwks.endpoint.url must be a file: or https: URL, not {url!r}")
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # the scheme is checked above
        body: bytes = response.read(4 * 1024 * 1024)
        return body


class JwksVerificationKeyResolver:
    """The JWKS of one listener, refreshed off the event loop (see the module docstring)."""

    def __init__(
        self,
        url: str,
        refresh_ms: int,
        retry_backoff_ms: int,
        now_ms: Callable[[], int] = wall_clock_ms,
        fetch: Callable[[str], bytes] = fetch_jwks,
    ) -> None:
        self.url, self.refresh_ms, self.retry_backoff_ms = url, refresh_ms, retry_backoff_ms
        self.keys: dict[str, VerificationKey] = {}
        self.fetched_ms: int | None = None
        self._attempted_ms: int | None = None
        self._now_ms, self._fetch = now_ms, fetch
        self._in_flight: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """The first fetch, awaited (in a worker thread) before the listener serves."""
        await self.refresh()

    async def refresh(self) -> None:
        self._attempted_ms = self._now_ms()
        try:
            document = await asyncio.to_thread(self._fetch, self.url)
            keys = jwks_keys(document)
        except Exception as exc:  # any failure of the endpoint: logged, the keys we had kept
            log.error(
                "JWKS from %s could not be retrieved (logins use the keys held: %d): %s", self.url, len(self.keys), exc
            )
            return
        self.keys, self.fetched_ms = keys, self._now_ms()
        log.info("JWKS from %s: %d key(s) %s", self.url, len(keys), sorted(keys))

    def _maybe_refresh(self, unknown_kid: bool) -> None:
        now = self._now_ms()
        stale = self.fetched_ms is None or now - self.fetched_ms >= self.refresh_ms
        recently = self._attempted_ms is not None and now - self._attempted_ms < self.retry_backoff_ms
        if not (stale or unknown_kid) or recently or (self._in_flight is not None and not self._in_flight.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a unit test without one): nothing to schedule on
        self._in_flight = loop.create_task(self.refresh())

    def key(self, kid: str) -> VerificationKey:
        """The key for `kid`; an unknown kid triggers a refresh and is refused now."""
        key = self.keys.get(kid)
        if key is None and not kid and len(self.keys) == 1:
            key = next(iter(self.keys.values()))
        self._maybe_refresh(unknown_kid=key is None)
        if key is None:
            raise OAuthBearerValidationError(
                f"no key with kid {kid!r} in the JWKS from {self.url}" if self.keys else f"no JWKS from {self.url}"
            )
        return key


@dataclass(frozen=True, slots=True)
class JwtValidatorConfig:
    """The broker's `sasl.oauthbearer.*` keys for the JWKS validator."""

    expected_audience: frozenset[str] = frozenset()
    expected_issuer: str | None = None
    sub_claim_name: str = "sub"
    scope_claim_name: str = "scope"
    clock_skew_s: int = 30


def verify_signature(alg: str, key: VerificationKey, signing_input: bytes, signature: bytes) -> None:
    """RS256 (RSASSA-PKCS1-v1_5, SHA-256) or ES256 (ECDSA P-256, SHA-256, signature r||s of 32 bytes each)."""
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return
    except InvalidSignature:
        raise OAuthBearerValidationError("the token's signature does not verify") from None
    raise OAuthBearerValidationError(f"algorithm {alg!r} not accepted for this key (RS256, ES256)")


class OAuthBearerJwksValidator:
    """KIP-768's broker-side validator: signature against the JWKS, then the claims."""

    def __init__(
        self,
        config: JwtValidatorConfig,
        resolver: JwksVerificationKeyResolver,
        now_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.config, self.resolver, self._now_ms = config, resolver, now_ms

    def validate(self, token_value: str) -> OAuthBearerToken:
        jws = JsonWebSignature.parse(token_value)
        alg, kid = jws.header.get("alg"), jws.header.get("kid", "")
        if not isinstance(alg, str) or alg == "none" or not isinstance(kid, str):
            raise OAuthBearerValidationError("the token must be signed (alg RS256 or ES256) and kid a string")
        verify_signature(alg, self.resolver.key(kid), jws.signing_input, jws.signature)
        claims, config = jws.claims, self.config
        exp, iat = _check_times(claims, self._now_ms(), config.clock_skew_s * 1000, require_iat=True)
        if config.expected_audience:
            audience = claims.get("aud")
            given = {audience} if isinstance(audience, str) else set(audience) if isinstance(audience, list) else set()
            if not given & config.expected_audience:
                raise OAuthBearerValidationError(f"audience {audience!r} is not one of those expected")
        if config.expected_issuer is not None and claims.get("iss") != config.expected_issuer:
            raise OAuthBearerValidationError(f"issuer {claims.get('iss')!r} is not the one expected")
        principal = _principal(claims, config.sub_claim_name)
        return OAuthBearerToken(token_value, principal, _scope(claims, config.scope_claim_name), exp, iat)
