"""`odradek configs --entity-type users|clients`: SCRAM credentials and client quotas, as kafka-configs.sh manages them.

- `--alter --add-config 'producer_byte_rate=1024,SCRAM-SHA-256=[iterations=8192,password=alice-secret]'`: the
  SCRAM-SHA-256/512 items go to AlterUserScramCredentials (confluent-kafka's `alter_user_scram_credentials`; the
  password never leaves the client unsalted), the quota items to AlterClientQuotas. `--delete-config
  'SCRAM-SHA-256,producer_byte_rate'` removes them the same way.
- `--describe` prints Kafka's lines: `Quota configs for user-principal 'alice' are producer_byte_rate=1024.0` and,
  for named users, `SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192`.
- Entities: `--entity-type users|clients --entity-name X` or `--entity-default`, and Kafka's shorthands `--user`,
  `--client`, `--user-defaults`, `--client-defaults` (`--user alice --client app` is the (user, client id) entity).

confluent-kafka (and librdkafka) have no client quota call: DescribeClientQuotas and AlterClientQuotas are sent
with kafka-python's protocol classes through its KafkaAdminClient (the same pinned kafka-python Connect uses), on
the connection settings of `--command-config`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    admin_client,
    client_config,
    kafka_admin,
    load_properties_file,
    parse_add_config,
    wait,
)
from odradek.kafka_python import send_to_controller

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate")
DEFAULT_ITERATIONS = 4096
_ENTITY_TYPES = {"users": "user", "clients": "client-id"}
_LABELS = {"user": "user-principal", "client-id": "client-id"}

Entity = list[tuple[str, str | None]]  # (Kafka entity type, name; None = the default)


def entity(args: argparse.Namespace) -> Entity:
    """The entity the arguments name, user first (Kafka's order)."""
    components: dict[str, str | None] = {}
    if args.entity_type in _ENTITY_TYPES:
        if args.entity_default:
            components[_ENTITY_TYPES[args.entity_type]] = None
        elif args.entity_name is not None:
            components[_ENTITY_TYPES[args.entity_type]] = args.entity_name
        elif args.alter:
            raise CliError("--entity-name or --entity-default is required for --alter")
    if args.user is not None or args.user_defaults:
        components["user"] = None if args.user_defaults else args.user
    if args.client is not None or args.client_defaults:
        components["client-id"] = None if args.client_defaults else args.client
    return sorted(components.items(), key=lambda c: c[0] != "user")


def describe_label(components: Entity) -> str:
    return ", ".join(f"the default {_LABELS[t]}" if n is None else f"{_LABELS[t]} '{n}'" for t, n in components)


def alter_label(components: Entity) -> str:
    """Kafka's `Completed updating config for user alice.` wording (`default` for a default)."""
    return ", ".join(f"{'user' if t == 'user' else 'client'} {'<default>' if n is None else n}" for t, n in components)


def run(args: argparse.Namespace) -> int:
    components = entity(args)
    if args.describe:
        if args.add_config or args.add_config_file or args.delete_config:
            raise CliError("--add-config and --delete-config are only valid with --alter")
        return _describe(args, components)
    return _alter(args, components)


# -- describe ------------------------------------------------------------------------------------------------------


def _describe(args: argparse.Namespace, components: Entity) -> int:
    types = [t for t, _ in components] or [_ENTITY_TYPES[args.entity_type]]
    filters = [(t, 1 if n is None else 0, n) for t, n in components]
    if not components:  # no name: every named entity of the type alone (ClientQuotaFilterComponent.ofEntityType)
        filters = [(types[0], 2, None)]
    response = _quota_request(args, _describe_request(filters, strict=True))  # Kafka: ClientQuotaFilter.containsOnly
    if response.error_code:
        raise CliError(f"describing client quotas failed: {response.error_message} (error {response.error_code})")
    for entry in response.entries or []:
        found: Entity = [(e.entity_type, e.entity_name) for e in entry.entity]
        values = ", ".join(f"{v.key}={float(v.value)}" for v in sorted(entry.values, key=lambda v: v.key))
        print(f"Quota configs for {describe_label(sorted(found, key=lambda c: c[0] != 'user'))} are {values}")
    users = [n for t, n in components if t == "user"]
    if types == ["user"] and None not in users:  # Kafka: SCRAM only for users, never for defaults or clients
        _describe_scram(args, users)
    return 0


def _describe_scram(args: argparse.Namespace, users: list[str | None]) -> None:
    admin = admin_client(args)
    names = [u for u in users if u is not None]
    descriptions: dict[str, Any] = {}
    if names:
        for user, future in admin.describe_user_scram_credentials(names, request_timeout=ADMIN_TIMEOUT_S).items():
            try:
                descriptions[user] = future.result(timeout=ADMIN_TIMEOUT_S)
            except KafkaException:  # RESOURCE_NOT_FOUND: no credential; Kafka prints nothing for it
                continue
    else:
        descriptions = wait(admin.describe_user_scram_credentials(None, request_timeout=ADMIN_TIMEOUT_S), "SCRAM")
    for user, description in sorted(descriptions.items()):
        infos = ", ".join(
            f"{info.mechanism.name.replace('_', '-')}=iterations={info.iterations}"
            for info in description.scram_credential_infos
        )
        print(f"SCRAM credential configs for user-principal '{user}' are {infos}")


# -- alter ---------------------------------------------------------------------------------------------------------


def _alter(args: argparse.Namespace, components: Entity) -> int:
    if not components:
        raise CliError("--alter needs an entity: --entity-type users|clients with --entity-name or --entity-default")
    additions = load_properties_file(args.add_config_file) if args.add_config_file else {}
    additions.update(parse_add_config(args.add_config) if args.add_config else {})
    deletions = [part.strip() for item in args.delete_config or () for part in item.split(",") if part.strip()]
    if not additions and not deletions:
        raise CliError("--alter needs --add-config and/or --delete-config")
    if overlap := sorted(set(additions) & set(deletions)):
        raise CliError(f"Config(s) both added and deleted: {','.join(overlap)}")
    scram = {k: v for k, v in additions.items() if k in SCRAM_MECHANISMS}
    scram_deletions = [k for k in deletions if k in SCRAM_MECHANISMS]
    quotas = {k: v for k, v in additions.items() if k not in SCRAM_MECHANISMS}
    quota_deletions = [k for k in deletions if k not in SCRAM_MECHANISMS]
    if unknown := sorted(k for k in [*quotas, *quota_deletions] if k not in QUOTA_KEYS):
        raise CliError(f"Invalid config(s): {','.join(unknown)}")
    if scram or scram_deletions:
        user = dict(components).get("user")
        if [t for t, _ in components] != ["user"] or user is None:
            raise CliError("SCRAM credentials can be altered only for one named user (--entity-type users)")
        _alter_scram(args, user, scram, scram_deletions)
    if quotas or quota_deletions:
        _alter_quotas(args, components, quotas, quota_deletions)
    print(f"Completed updating config for {alter_label(components)}.")
    return 0


def parse_scram(mechanism: str, value: str) -> tuple[int, str]:
    """`iterations=8192,password=alice-secret` (Kafka's SCRAM config value; the brackets already removed)."""
    options: dict[str, str] = {}
    for item in value.split(","):
        key, eq, option = item.partition("=")
        if not eq:
            raise CliError(f"Invalid {mechanism} value: expected [iterations=N,password=...]")
        options[key.strip()] = option
    if "password" not in options:
        raise CliError(f"{mechanism} needs a password: {mechanism}=[iterations=8192,password=...]")
    try:
        iterations = int(options.get("iterations", DEFAULT_ITERATIONS))
    except ValueError:
        raise CliError(f"Invalid {mechanism} iterations: {options['iterations']}") from None
    return iterations, options["password"]


def _alter_scram(args: argparse.Namespace, user: str, additions: Mapping[str, str], deletions: list[str]) -> None:
    kadmin = kafka_admin()
    changes: list[Any] = []
    for mechanism, value in additions.items():
        iterations, password = parse_scram(mechanism, value)
        info = kadmin.ScramCredentialInfo(getattr(kadmin.ScramMechanism, mechanism.replace("-", "_")), iterations)
        changes.append(kadmin.UserScramCredentialUpsertion(user, info, password.encode()))
    for mechanism in deletions:
        changes.append(
            kadmin.UserScramCredentialDeletion(user, getattr(kadmin.ScramMechanism, mechanism.replace("-", "_")))
        )
    admin = admin_client(args)
    futures = admin.alter_user_scram_credentials(changes, request_timeout=ADMIN_TIMEOUT_S)
    for future in futures.values():
        wait(future, f"altering SCRAM credentials of user {user}")


def _alter_quotas(
    args: argparse.Namespace, components: Entity, additions: Mapping[str, str], deletions: list[str]
) -> None:
    from kafka.protocol.admin import AlterClientQuotasRequest as Request

    ops = []
    for key, value in additions.items():
        try:
            number = float(value)
        except ValueError:
            raise CliError(f"Invalid value for {key}: {value}") from None
        ops.append(Request.EntryData.OpData(key=key, value=number, remove=False))
    ops += [Request.EntryData.OpData(key=key, value=0.0, remove=True) for key in deletions]
    request = Request(
        entries=[
            Request.EntryData(
                entity=[Request.EntryData.EntityData(entity_type=t, entity_name=n) for t, n in components], ops=ops
            )
        ],
        validate_only=False,
    )
    response = _quota_request(args, request)
    for entry in response.entries:
        if entry.error_code:
            raise CliError(f"altering client quotas failed: {entry.error_message} (error {entry.error_code})")


# -- kafka-python transport ----------------------------------------------------------------------------------------


def _describe_request(filters: list[tuple[str, int, str | None]], strict: bool) -> Any:
    from kafka.protocol.admin import DescribeClientQuotasRequest as Request

    return Request(
        components=[Request.ComponentData(entity_type=t, match_type=m, match=n) for t, m, n in filters],
        strict=strict,
    )


def _quota_request(args: argparse.Namespace, request: Any) -> Any:
    """One request through kafka-python (odradek.kafka_python), with `--command-config`'s connection settings."""
    from kafka.errors import KafkaConnectionError
    from kafka.errors import KafkaError as KafkaPythonError

    try:
        return send_to_controller(client_config(args), request, ADMIN_TIMEOUT_S)
    except KafkaConnectionError as exc:
        raise CliError(f"Cannot reach broker at {args.bootstrap_server}: {exc}") from None
    except KafkaPythonError as exc:
        raise CliError(f"{type(request).__name__} failed: {exc}") from None
