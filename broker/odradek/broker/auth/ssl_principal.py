"""Kafka's SslPrincipalMapper: `ssl.principal.mapping.rules` turn a client certificate's subject into a name.

The subject is written as RFC 2253 (`CN=alice,OU=eng,O=Acme,C=US`, most specific first, as Java's
X500Principal.getName()). Rules are tried in order, separated by commas; the first that applies names the principal:

- `DEFAULT`: the whole distinguished name.
- `RULE:<pattern>/<replacement>/[L|U]`: applies when the Java-style regular expression matches the whole name;
  the name becomes the replacement (`$1` ... back references) and is lower- (`L`) or upper-cased (`U`). `\\/` and
  `\\\\` escape inside pattern and replacement.

No rule applying is an authentication failure (Kafka's NoMatchingRule). Rule syntax is Kafka's (its RULE_SPLITTER
and RULE_PARSER expressions, which Python's `re` reads the same way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from odradek.broker.config.definitions import ConfigError

_RULE = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_SPLITTER = re.compile(r"\s*(" + _RULE + r")\s*(,\s*|$)")
_PARSER = re.compile(_RULE)
_BACK_REFERENCE = re.compile(r"\$(\d+)")


class NoMatchingRule(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    default: bool
    pattern: re.Pattern[str] | None = None
    replacement: str = ""
    case: str = ""

    def apply(self, name: str) -> str | None:
        if self.default:
            return name
        assert self.pattern is not None
        if self.pattern.fullmatch(name) is None:
            return None
        groups = self.pattern.groups

        def expand(match: re.Match[str]) -> str:
            def group(ref: re.Match[str]) -> str:
                # Java's Matcher.appendReplacement: the longest group number not above the group count; Kafka
                # escapes a reference whose first digit is already too large, so it stays literal text.
                digits = ref.group(1)
                index = int(digits[0])
                if index > groups:
                    return ref.group(0)
                used = 1
                while used < len(digits) and index * 10 + int(digits[used]) <= groups:
                    index, used = index * 10 + int(digits[used]), used + 1
                return (match.group(index) or "") + digits[used:]

            return _BACK_REFERENCE.sub(group, self.replacement)

        # Java's String.replaceAll, as Kafka calls it: every match replaced (re.sub matches the same places).
        result = self.pattern.sub(expand, name)
        return result.lower() if self.case == "L" else result.upper() if self.case == "U" else result


class SslPrincipalMapper:
    def __init__(self, rules: str | None) -> None:
        text = (rules or "DEFAULT").strip()
        self.rules: list[Rule] = []
        for match in _SPLITTER.finditer(text):
            rule = match.group(1)
            parsed = _PARSER.match(rule)
            if parsed is None or parsed.end() != len(rule):
                raise ConfigError(f"Invalid rule in ssl.principal.mapping.rules: `{rule}`")
            if parsed.group(1) is not None:
                self.rules.append(Rule(True))
            elif parsed.group(2) is not None:
                try:
                    pattern = re.compile(parsed.group(2).replace("\\/", "/"))
                except re.error as exc:
                    raise ConfigError(f"Invalid rule in ssl.principal.mapping.rules: `{rule}`: {exc}") from None
                replacement = parsed.group(4).replace("\\/", "/")
                self.rules.append(Rule(False, pattern, replacement, parsed.group(6) or ""))
            if match.end() >= len(text):
                break

    def name(self, distinguished_name: str) -> str:
        for rule in self.rules:
            result = rule.apply(distinguished_name)
            if result is not None:
                return result
        raise NoMatchingRule(f"No rules apply to {distinguished_name}")


# Python's ssl gives the subject as a tuple of RDNs, least specific first, with OpenSSL's long attribute names;
# RFC 2253 uses short names and the reverse order.
_SHORT_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def _escape(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def rfc2253(subject: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    """A subject from `SSLSocket.getpeercert()` as RFC 2253 text (X500Principal.getName())."""
    rdns = []
    for rdn in reversed(subject):
        rdns.append("+".join(f"{_SHORT_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn))
    return ",".join(rdns)
