"""Kafka's DefaultSslEngineFactory for a broker listener, with Python's `ssl`: the server-side SSLContext, and the
client-side one the broker's inter-broker client uses on that listener (`client_context`).

Keys, read through the listener's view of the configuration (`listener.name.<name>.ssl.*` over `ssl.*`):

- `ssl.keystore.type` PEM (the only type: JKS and PKCS12 are Java formats). The key and its certificate chain
  come from `ssl.keystore.location`, a PEM file holding the private key and the chain as Kafka reads it, or inline
  from `ssl.keystore.key` and `ssl.keystore.certificate.chain`; `ssl.key.password` decrypts an encrypted key.
- `ssl.truststore.location` (a PEM file of CA certificates) or inline `ssl.truststore.certificates`: who may sign
  client certificates. Without one, the system's default CAs.
- `ssl.enabled.protocols`: among TLSv1.2 and TLSv1.3 (nothing older is accepted); `ssl.cipher.suites` the TLS 1.2
  ciphers (OpenSSL names), empty for OpenSSL's defaults.
- `ssl.client.auth`: `required` (a client certificate signed by the truststore is needed), `requested` (asked
  for, verified if given), `none`. On SASL_SSL listeners only the listener-prefixed value counts, as in Kafka.

The client side (`client_context`, the inter-broker listener's keys, as Kafka's inter-broker client reads them):
the same keystore keys give the client certificate sent to a listener that asks for one (mTLS; optional here), the
truststore verifies the other broker's certificate (without one, the system's CAs), and
`ssl.endpoint.identification.algorithm` `https` (Kafka's default) also checks the host name the broker registered
against the certificate (its subjectAltName); empty turns the host name check off, the chain is still verified.

Inline PEM text is written to a private temporary directory only while OpenSSL loads it (Python's ssl loads key
chains from files only), then removed.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from odradek.broker.config.definitions import ConfigError, ConfigValue

PROTOCOL_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
CLIENT_AUTH = {"required": ssl.CERT_REQUIRED, "requested": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}

ConfigGetter = Callable[[str], ConfigValue]


def _str(get: ConfigGetter, key: str) -> str | None:
    value = get(key)
    return value if isinstance(value, str) and value.strip() else None


def server_context(listener: str, get: ConfigGetter, client_auth_key_set: bool = True) -> ssl.SSLContext:
    """The SSLContext of a TLS listener; ConfigError naming the key when something cannot be used.
    `client_auth_key_set` False ignores `ssl.client.auth` (SASL_SSL without a listener-prefixed value)."""
    store_type = (_str(get, "ssl.keystore.type") or "PEM").upper()
    if store_type != "PEM":
        raise ConfigError(f"ssl.keystore.type {store_type} is not supported for listener {listener}: use PEM")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _protocols(context, get, listener)
    _ciphers(context, get, listener)
    _load_keystore(context, get, listener)
    _load_truststore(context, get, listener, ssl.Purpose.CLIENT_AUTH)
    auth = (_str(get, "ssl.client.auth") or "none").lower() if client_auth_key_set else "none"
    if auth not in CLIENT_AUTH:
        raise ConfigError(
            f"Invalid value {auth} for configuration ssl.client.auth: expected required, requested or none"
        )
    context.verify_mode = CLIENT_AUTH[auth]
    return context


def client_context(listener: str, get: ConfigGetter) -> ssl.SSLContext:
    """The client SSLContext for connections to other brokers' `listener`: protocols and ciphers as the listener's,
    the keystore (if any) as the client certificate, the truststore verifying the server, the host name checked
    unless `ssl.endpoint.identification.algorithm` is empty. ConfigError naming the key."""
    store_type = (_str(get, "ssl.keystore.type") or "PEM").upper()
    if store_type != "PEM":
        raise ConfigError(f"ssl.keystore.type {store_type} is not supported for listener {listener}: use PEM")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname True
    _protocols(context, get, listener)
    _ciphers(context, get, listener)
    if (
        _str(get, "ssl.keystore.location")
        or _str(get, "ssl.keystore.certificate.chain")
        or _str(get, "ssl.keystore.key")
    ):
        _load_keystore(context, get, listener)
    _load_truststore(context, get, listener, ssl.Purpose.SERVER_AUTH)
    algorithm = (_str(get, "ssl.endpoint.identification.algorithm") or "").lower()
    if algorithm not in ("https", ""):
        raise ConfigError(
            f"Invalid ssl.endpoint.identification.algorithm {algorithm!r} for listener {listener}: https or empty"
        )
    context.check_hostname = algorithm == "https"
    return context


def _ciphers(context: ssl.SSLContext, get: ConfigGetter, listener: str) -> None:
    ciphers = get("ssl.cipher.suites")
    if isinstance(ciphers, list) and ciphers:
        try:
            context.set_ciphers(":".join(ciphers))
        except ssl.SSLError as exc:
            raise ConfigError(f"Invalid ssl.cipher.suites for listener {listener}: {exc}") from None


def _protocols(context: ssl.SSLContext, get: ConfigGetter, listener: str) -> None:
    enabled = get("ssl.enabled.protocols")
    names = enabled if isinstance(enabled, list) and enabled else list(PROTOCOL_VERSIONS)
    unknown = [name for name in names if name not in PROTOCOL_VERSIONS]
    if unknown:
        raise ConfigError(
            f"Invalid ssl.enabled.protocols for listener {listener}: {', '.join(unknown)} (TLSv1.2 and TLSv1.3 only)"
        )
    versions = sorted(PROTOCOL_VERSIONS[name] for name in names)
    context.minimum_version, context.maximum_version = versions[0], versions[-1]


def _load_keystore(context: ssl.SSLContext, get: ConfigGetter, listener: str) -> None:
    location = _str(get, "ssl.keystore.location")
    chain, key = _str(get, "ssl.keystore.certificate.chain"), _str(get, "ssl.keystore.key")
    password = _str(get, "ssl.key.password")
    if location and (chain or key):
        raise ConfigError(
            f"Listener {listener}: set ssl.keystore.location or ssl.keystore.certificate.chain/ssl.keystore.key, "
            "not both"
        )
    if not location and not (chain and key):
        raise ConfigError(
            f"Listener {listener} uses TLS but has no key: set ssl.keystore.location (a PEM file with the private "
            "key and the certificate chain) or ssl.keystore.certificate.chain and ssl.keystore.key"
        )
    try:
        if location:
            context.load_cert_chain(location, password=password)
        else:
            assert chain is not None and key is not None
            with tempfile.TemporaryDirectory(prefix="odradek-tls-") as private:  # mode 0700
                path = Path(private) / "keystore.pem"
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w", encoding="ascii") as out:
                    out.write(key.strip() + "\n" + chain.strip() + "\n")
                context.load_cert_chain(path, password=password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(f"Listener {listener}: cannot load the TLS key and certificate chain: {exc}") from None


def _load_truststore(context: ssl.SSLContext, get: ConfigGetter, listener: str, purpose: ssl.Purpose) -> None:
    store_type = (_str(get, "ssl.truststore.type") or "PEM").upper()
    if store_type != "PEM":
        raise ConfigError(f"ssl.truststore.type {store_type} is not supported for listener {listener}: use PEM")
    location, inline = _str(get, "ssl.truststore.location"), _str(get, "ssl.truststore.certificates")
    if location and inline:
        raise ConfigError(f"Listener {listener}: set ssl.truststore.location or ssl.truststore.certificates")
    try:
        if location:
            context.load_verify_locations(cafile=location)
        elif inline:
            context.load_verify_locations(cadata=inline)
        else:
            context.load_default_certs(purpose)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(f"Listener {listener}: cannot load the TLS truststore: {exc}") from None
