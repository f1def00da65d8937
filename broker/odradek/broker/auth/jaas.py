"""Kafka's `sasl.jaas.config` value (JAAS login-module syntax), read for the options of the login modules Kafka
ships for PLAIN and SCRAM, never to load anything.

Format: one or more entries `<login module class> <flag> [<option>=<value> ...];`, the flag one of required,
requisite, sufficient, optional; a value is a double-quoted string (`\\` escapes the next character) or a bare word.
For PLAIN, Kafka's PlainLoginModule options `user_<name>="<password>"` are the users the broker accepts
(`username`/`password` are the broker's own client credentials, used between brokers).

Only Kafka's PlainLoginModule, ScramLoginModule and OAuthBearerLoginModule are accepted: a JAAS value naming any
other class (for example JndiLoginModule or LdapLoginModule, CVE-2023-25194 and CVE-2025-27819) is a ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from odradek.broker.config.definitions import ConfigError

PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
OAUTHBEARER_LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
ACCEPTED_MODULES = frozenset({PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE, OAUTHBEARER_LOGIN_MODULE})
FLAGS = frozenset({"required", "requisite", "sufficient", "optional"})


@dataclass(frozen=True, slots=True)
class AppConfigurationEntry:
    login_module: str
    flag: str
    options: Mapping[str, str]


def _tokens(text: str) -> list[str]:
    """Words, quoted strings (returned with a leading '"'), '=' and ';' as tokens."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "=;":
            tokens.append(ch)
            i += 1
        elif ch == '"':
            out, i = ['"'], i + 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                out.append(text[i])
                i += 1
            if i >= len(text):
                raise ConfigError("Invalid sasl.jaas.config: unterminated quoted value")
            tokens.append("".join(out))
            i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in '=;"':
                i += 1
            tokens.append(text[start:i])
    return tokens


def parse_jaas_config(text: str, key: str = "sasl.jaas.config") -> list[AppConfigurationEntry]:
    tokens = _tokens(text)
    entries: list[AppConfigurationEntry] = []
    i = 0
    while i < len(tokens):
        if i + 1 >= len(tokens):
            raise ConfigError(f"Invalid {key}: expected a login module and a control flag")
        module, flag = tokens[i], tokens[i + 1].lower()
        if module not in ACCEPTED_MODULES:
            raise ConfigError(
                f"Invalid {key}: login module {module!r} is not accepted (only {', '.join(sorted(ACCEPTED_MODULES))})"
            )
        if flag not in FLAGS:
            raise ConfigError(f"Invalid {key}: invalid control flag {tokens[i + 1]!r}")
        i += 2
        options: dict[str, str] = {}
        while i < len(tokens) and tokens[i] != ";":
            if i + 2 >= len(tokens) or tokens[i + 1] != "=" or tokens[i + 2] in ("=", ";"):
                raise ConfigError(f"Invalid {key}: expected option=value after {module}")
            options[tokens[i]] = tokens[i + 2].removeprefix('"')
            i += 3
        if i >= len(tokens):
            raise ConfigError(f"Invalid {key}: an entry must end with ';'")
        i += 1
        entries.append(AppConfigurationEntry(module, flag, options))
    if not entries:
        raise ConfigError(f"Invalid {key}: no login module")
    return entries


def plain_users(entries: list[AppConfigurationEntry]) -> dict[str, str]:
    """The `user_<name>` options of the PlainLoginModule entries: user name -> password."""
    return {
        name.removeprefix("user_"): value
        for entry in entries
        if entry.login_module == PLAIN_LOGIN_MODULE
        for name, value in entry.options.items()
        if name.startswith("user_") and len(name) > len("user_")
    }


def login_module_options(entries: list[AppConfigurationEntry], module: str) -> dict[str, str]:
    """The options of the entries of one login module (for OAuthBearerLoginModule: the unsecuredValidator* ones)."""
    return {name: value for entry in entries if entry.login_module == module for name, value in entry.options.items()}
