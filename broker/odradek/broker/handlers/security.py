"""What the security handlers share: ACLs between the metadata store's records and the authorizer's bindings (and
the metadata listener that keeps the authorizer current), the SCRAM credentials in force and the bootstrap users,
and Kafka's answer when no authorizer is configured."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from odradek.broker.auth.acl import AclBinding, AclPermissionType, enum_or_unknown
from odradek.broker.auth.authorizer import AclOperation, PatternType, ResourceType
from odradek.broker.auth.mechanisms import ScramCredentials
from odradek.broker.auth.scram import BootstrapCredential, ScramCredential
from odradek.broker.auth.standard_authorizer import StandardAuthorizer
from odradek.broker.handlers.context import BrokerServices
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.image import MetadataDelta, MetadataImage
from odradek.broker.metadata.security import AclRecord, ScramCredentialRecord

log = logging.getLogger("odradek.broker")

SECURITY_DISABLED_MESSAGE = "No Authorizer is configured on the broker"


def acl_binding(record: AclRecord) -> AclBinding:
    return AclBinding(
        enum_or_unknown(ResourceType, record.resource_type),
        record.resource_name,
        enum_or_unknown(PatternType, record.pattern_type),
        record.principal,
        record.host,
        enum_or_unknown(AclOperation, record.operation),
        enum_or_unknown(AclPermissionType, record.permission_type),
    )


def acl_record(binding: AclBinding) -> AclRecord:
    return AclRecord(
        int(binding.resource_type),
        binding.resource_name,
        int(binding.pattern_type),
        binding.principal,
        binding.host,
        int(binding.operation),
        int(binding.permission_type),
    )


def authorizer_enabled(services: BrokerServices) -> bool:
    """ACL APIs answer SECURITY_DISABLED without an authorizer (Kafka, with no authorizer.class.name)."""
    return isinstance(services.authorizer, StandardAuthorizer)


def scram_credentials(services: BrokerServices) -> ScramCredentials:
    """Looks credentials up in the metadata image in force at each call (a changed password applies to the next
    authentication)."""

    def lookup(mechanism: str, user: str) -> ScramCredential | None:
        record = services.metadata.image.scram_credentials.get((mechanism, user))
        return None if record is None else scram_credential(record)

    return lookup


def scram_credential(record: ScramCredentialRecord) -> ScramCredential:
    return ScramCredential(record.salt, record.stored_key, record.server_key, record.iterations)


def scram_record(credential: ScramCredential) -> ScramCredentialRecord:
    return ScramCredentialRecord(credential.salt, credential.stored_key, credential.server_key, credential.iterations)


def acl_listener(authorizer: StandardAuthorizer) -> Callable[[MetadataImage, MetadataDelta], None]:
    """A metadata listener keeping the authorizer's ACL index equal to the image's ACLs (every broker applies them
    from the store's watch)."""

    def publish(image: MetadataImage, delta: MetadataDelta) -> None:
        if delta.changed_acls:
            authorizer.apply(
                {
                    acl_id: acl_binding(image.acls[acl_id]) if acl_id in image.acls else None
                    for acl_id in delta.changed_acls
                }
            )

    return publish


async def bootstrap_scram_users(controller: Controller, users: Iterable[BootstrapCredential]) -> None:
    """`sasl.scram.bootstrap.credentials`: create the users that have no credential yet (a first start); existing
    credentials are kept."""
    for user in users:
        credential = ScramCredential.from_password(user.mechanism, user.password, user.iterations)
        created = await controller.put_scram_credential(
            user.mechanism.name, user.user, scram_record(credential), only_if_absent=True
        )
        if created:
            log.info(
                "created SCRAM credential of %s for %s (sasl.scram.bootstrap.credentials)",
                user.user,
                user.mechanism.name,
            )
