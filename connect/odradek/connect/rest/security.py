"""REST listener security, with Kafka Connect's settings: https listeners, mutual TLS, basic authentication.

Listeners (`listeners`): `http://host:port` and `https://host:port` entries, each served; an empty host binds
every interface, a missing port is 8083. The advertised URL follows Kafka's RestServer: the scheme is
`rest.advertised.listener` when set, else http when an http listener exists, else https; the host is
`rest.advertised.host.name` or the listener's host (the machine's name for an all-interfaces listener); the port
is `rest.advertised.port` or the port that listener bound.

TLS (https listeners and the client that forwards requests to other workers): the `ssl.*` keys, or, when any key
starting `listeners.https.` is set, only the `listeners.https.ssl.*` keys (Kafka's "all or nothing" prefix rule,
unset ones at their defaults). Keystores and truststores must be `ssl.keystore.type=PEM` /
`ssl.truststore.type=PEM` files: the keystore holds the private key (encrypted with `ssl.key.password`, or plain)
followed by the certificate chain; the truststore holds CA certificates. `ssl.client.authentication` is none,
requested (a certificate is asked for and verified when given) or required. The forwarding client presents the
keystore as its client certificate and checks the peer's host name when `ssl.endpoint.identification.algorithm`
is https (the default).

Basic authentication: `rest.extension.classes` naming Kafka's
`org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension`. As in Kafka, the users are
read through the JAAS file named by `-Djava.security.auth.login.config=<path>` in the `KAFKA_OPTS` environment
variable: its `KafkaConnect` entry names `...PropertyFileLoginModule required file="<path>";`, a Java properties
file of `user=password` lines. Requests without the right `Authorization: Basic` credentials are answered 401 with
`WWW-Authenticate: Basic realm="Kafka Connect"`; the internal `POST /connectors/{c}/tasks` (signed between workers,
KIP-507) passes without credentials, as Kafka's JaasBasicAuthFilter lets it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import shlex
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from odradek.connect.config.configdef import ConfigException
from odradek.connect.config.properties import load_properties
from odradek.connect.config.worker import WorkerConfig

HTTPS_PREFIX = "listeners.https."
BASIC_AUTH_EXTENSION = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
PROPERTY_FILE_LOGIN_MODULE = "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule"
JAAS_ENTRY = "KafkaConnect"
REALM = "Kafka Connect"

CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def _bad(message: str) -> ConfigException:
    return ConfigException(message, plain=True)


@dataclass(frozen=True, slots=True)
class RestListener:
    """One `listeners` entry: scheme (http or https, lower case), host to bind, port (0: any free port)."""

    scheme: str
    host: str
    port: int


def parse_listeners(listeners: Sequence[str]) -> list[RestListener]:
    """`http://host:port` / `https://host:port` entries; ConfigException names a bad one."""
    if not listeners:
        raise _bad("listeners must name at least one http:// or https:// listener")
    out = []
    for listener in listeners:
        parts = urlsplit(listener.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _bad(f"Invalid value {listener} for configuration listeners: the scheme must be http or https")
        try:
            port = parts.port if parts.port is not None else 8083
        except ValueError:
            raise _bad(f"Invalid value {listener} for configuration listeners: bad port") from None
        out.append(RestListener(scheme, parts.hostname or "0.0.0.0", port))
    return out


def advertised_scheme(config: WorkerConfig, listeners: Sequence[RestListener]) -> str:
    """Kafka's RestServer.determineAdvertisedProtocol: rest.advertised.listener, else http if listed, else https."""
    chosen = config["rest.advertised.listener"]
    if chosen:
        scheme = str(chosen).strip().lower()
        if scheme not in {listener.scheme for listener in listeners}:
            raise _bad(f"rest.advertised.listener={chosen} names no listener of listeners")
        return scheme
    return "http" if any(listener.scheme == "http" for listener in listeners) else "https"


def advertised_address(config: WorkerConfig, listener: RestListener, bound_port: int) -> str:
    """`host:port` this worker advertises (its worker_id), for the advertised listener bound on `bound_port`."""
    host = config["rest.advertised.host.name"] or (
        listener.host if listener.host != "0.0.0.0" else socket.gethostname()
    )
    return f"{host}:{config['rest.advertised.port'] or bound_port}"


def ssl_settings(config: WorkerConfig) -> dict[str, str]:
    """The `ssl.*` settings the REST listener and client use, by Kafka's all-or-nothing `listeners.https.` rule."""
    prefixed = config.prefixed(HTTPS_PREFIX)
    source = prefixed if prefixed else {k: v for k, v in config.raw.items() if k.startswith("ssl.")}
    return {k: v.strip() for k, v in source.items() if k.startswith("ssl.")}


def _pem_only(settings: Mapping[str, str], kind: str) -> None:
    store_type = settings.get(f"ssl.{kind}.type", "JKS").upper()
    if settings.get(f"ssl.{kind}.location") and store_type != "PEM":
        raise _bad(
            f"ssl.{kind}.type={store_type} is not supported for the REST listener: use ssl.{kind}.type=PEM "
            "(docs/connect.md, REST security)"
        )


def _load_stores(context: ssl.SSLContext, settings: Mapping[str, str], *, keystore_required: bool) -> None:
    _pem_only(settings, "keystore")
    _pem_only(settings, "truststore")
    keystore = settings.get("ssl.keystore.location")
    if keystore:
        password = settings.get("ssl.key.password") or settings.get("ssl.keystore.password") or None
        try:
            context.load_cert_chain(keystore, password=password)
        except (OSError, ssl.SSLError) as exc:
            raise _bad(f"ssl.keystore.location {keystore} cannot be loaded: {exc}") from None
    elif keystore_required:
        raise _bad("An https listener needs ssl.keystore.location (or listeners.https.ssl.keystore.location)")
    truststore = settings.get("ssl.truststore.location")
    if truststore:
        try:
            context.load_verify_locations(cafile=truststore)
        except (OSError, ssl.SSLError) as exc:
            raise _bad(f"ssl.truststore.location {truststore} cannot be loaded: {exc}") from None


def server_ssl_context(config: WorkerConfig) -> ssl.SSLContext:
    """The TLS context of the https listeners (ConfigException on a missing or unreadable store)."""
    settings = ssl_settings(config)
    auth = settings.get("ssl.client.authentication", "none").lower()
    if auth not in CLIENT_AUTH:
        raise _bad(
            f"Invalid value {auth} for configuration ssl.client.authentication: must be none, requested or required"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_stores(context, settings, keystore_required=True)
    if auth != "none" and not settings.get("ssl.truststore.location"):
        raise _bad(f"ssl.client.authentication={auth} needs ssl.truststore.location")
    context.verify_mode = CLIENT_AUTH[auth]
    return context


def client_ssl_context(config: WorkerConfig) -> ssl.SSLContext:
    """The TLS context of requests forwarded to other workers' https URLs (Kafka's client-side context)."""
    settings = ssl_settings(config)
    context = (
        ssl.create_default_context()
        if not settings.get("ssl.truststore.location")
        else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    )
    _load_stores(context, settings, keystore_required=False)
    context.check_hostname = settings.get("ssl.endpoint.identification.algorithm", "https").lower() == "https"
    context.verify_mode = ssl.CERT_REQUIRED
    return context


# -- basic authentication --------------------------------------------------------------------------------------

_JAAS_ENTRY = re.compile(r"(?P<name>[\w.-]+)\s*\{(?P<body>.*?)\}\s*;", re.S)
_JAAS_OPTION = re.compile(r'(?P<key>[\w.-]+)\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s;]+))')


@dataclass(frozen=True, slots=True)
class BasicAuthenticator:
    """Users and passwords of basic authentication (`credentials`: user -> password)."""

    credentials: Mapping[str, str]

    @classmethod
    def from_worker(cls, config: WorkerConfig, environ: Mapping[str, str]) -> BasicAuthenticator | None:
        """The authenticator `rest.extension.classes` asks for, or None; ConfigException on an unusable setup."""
        classes = [str(name).strip() for name in config["rest.extension.classes"] or ()]
        unknown = [name for name in classes if name and name != BASIC_AUTH_EXTENSION]
        if unknown:
            raise _bad(
                f"rest.extension.classes: {', '.join(unknown)} not found (only {BASIC_AUTH_EXTENSION} is served)"
            )
        if BASIC_AUTH_EXTENSION not in classes:
            return None
        jaas = jaas_file(environ)
        if jaas is None:
            raise _bad(
                f"{BASIC_AUTH_EXTENSION} needs a JAAS file: set KAFKA_OPTS=-Djava.security.auth.login.config=<path>"
            )
        return cls(load_properties(credentials_file(Path(jaas).read_text(encoding="utf-8"), jaas)))

    def authenticated(self, header: str | None) -> bool:
        """Whether an `Authorization` header value carries a known user's password (JaasBasicAuthFilter's parse)."""
        if not header:
            return False
        method, _, encoded = header.strip().partition(" ")
        if method.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, colon, password = decoded.partition(":")
        if not colon or not user or user not in self.credentials:
            return False
        return hmac.compare_digest(self.credentials[user].encode(), password.encode())


def jaas_file(environ: Mapping[str, str]) -> str | None:
    """The `-Djava.security.auth.login.config=` path in KAFKA_OPTS (how Kafka's scripts pass it to the JVM)."""
    for word in shlex.split(environ.get("KAFKA_OPTS", "")):
        if word.startswith("-Djava.security.auth.login.config="):
            return word.split("=", 1)[1].lstrip("=")  # Java also accepts `==path` (replace, not append)
    return None


def credentials_file(jaas_text: str, where: str) -> str:
    """The `file` option of the PropertyFileLoginModule in the JAAS text's KafkaConnect entry."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", jaas_text, flags=re.S)
    for entry in _JAAS_ENTRY.finditer(text):
        if entry.group("name") != JAAS_ENTRY:
            continue
        body = entry.group("body")
        if PROPERTY_FILE_LOGIN_MODULE not in body:
            raise _bad(f"{where}: the {JAAS_ENTRY} entry must use {PROPERTY_FILE_LOGIN_MODULE}")
        for option in _JAAS_OPTION.finditer(body):
            if option.group("key") == "file":
                return option.group("quoted") if option.group("quoted") is not None else option.group("bare")
        raise _bad(f"{where}: {PROPERTY_FILE_LOGIN_MODULE} has no file option")
    raise _bad(f"{where}: no {JAAS_ENTRY} entry")


_INTERNAL_TASKS = re.compile(r"/?connectors/[^/]+/tasks/?")


def basic_auth_middleware(authenticator: BasicAuthenticator) -> Middleware:
    """An aiohttp middleware answering 401 (with WWW-Authenticate: Basic) to requests without valid credentials."""

    @web.middleware
    async def basic_auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        internal = request.method == "POST" and _INTERNAL_TASKS.fullmatch(request.path) is not None
        if internal or authenticator.authenticated(request.headers.get("Authorization")):
            return await handler(request)
        return web.json_response(
            {"error_code": 401, "message": "User cannot access the resource."},
            status=401,
            headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
        )

    return basic_auth
