"""SCRAM credentials and ACLs in the metadata store: the controller's writes, the image built from them (at start-up
and from the watch), ACL deltas by id, and the StandardAuthorizer fed from those deltas (CVE-2024-27309's lesson:
ACL state checked after replaying the metadata)."""

from __future__ import annotations

from pathlib import Path

import pytest
from metadata_testing import FakeClock, run
from odradek.broker.auth.authorizer import AclOperation, Action, AuthorizationResult, ResourcePattern, ResourceType
from odradek.broker.auth.principal import KafkaPrincipal
from odradek.broker.auth.standard_authorizer import StandardAuthorizer
from odradek.broker.handlers.security import acl_listener
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import MetadataDelta, MetadataImage
from odradek.broker.metadata.security import AclRecord, ScramCredentialRecord, scram_id

READ_ORDERS = AclRecord(2, "orders", 3, "User:alice", "*", 3, 3)  # TOPIC, LITERAL, READ, ALLOW
CREDENTIAL = ScramCredentialRecord(b"salt", b"stored", b"server", 4096)


class Ctx:
    principal = KafkaPrincipal("User", "alice")
    client_address = "10.0.0.1"
    listener_name = "L"
    request_type = 3
    request_version = 1
    client_id = None
    correlation_id = 1


def allowed(authorizer: StandardAuthorizer) -> bool:
    action = Action(AclOperation.READ, ResourcePattern(ResourceType.TOPIC, "orders"))
    return authorizer.authorize(Ctx(), [action]) == [AuthorizationResult.ALLOWED]  # type: ignore[arg-type]


def test_records_round_trip_and_never_print_keys() -> None:
    assert AclRecord.from_json(READ_ORDERS.to_json()) == READ_ORDERS
    assert ScramCredentialRecord.from_json(CREDENTIAL.to_json()) == CREDENTIAL
    assert "stored" not in repr(CREDENTIAL)
    assert scram_id(b"/scram/SCRAM-SHA-256/us/er") == ("SCRAM-SHA-256", "us/er")


def test_credentials_and_acls_through_controller_cache_and_authorizer(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        controller = Controller(store)
        assert await controller.put_scram_credential("SCRAM-SHA-256", "alice", CREDENTIAL)
        assert not await controller.put_scram_credential("SCRAM-SHA-256", "alice", CREDENTIAL, only_if_absent=True)
        [first] = await controller.create_acls([READ_ORDERS])
        cache = MetadataCache(store)
        authorizer = StandardAuthorizer()
        deltas: list[frozenset[str]] = []

        def record(image: MetadataImage, delta: MetadataDelta) -> None:
            deltas.append(delta.changed_acls)

        cache.add_listener(acl_listener(authorizer))
        cache.add_listener(record)
        await cache.start()
        try:
            assert cache.image.scram_credentials[("SCRAM-SHA-256", "alice")] == CREDENTIAL
            assert cache.image.acls == {first: READ_ORDERS} and deltas == [frozenset({first})]
            assert allowed(authorizer)  # the state loaded at start-up
            await controller.delete_acls([first])
            await controller.delete_scram_credential("SCRAM-SHA-256", "alice")
            image = await cache.wait_for_applied(store.revision)
            assert image.acls == {} and image.scram_credentials == {}
            assert not allowed(authorizer)  # the watch removed it
            [second] = await controller.create_acls([READ_ORDERS])
            await cache.wait_for_applied(store.revision)
            assert allowed(authorizer) and deltas[-1] == frozenset({second})
            with pytest.raises(ControllerError) as missing:
                await controller.delete_scram_credential("SCRAM-SHA-256", "alice")
            assert missing.value.error_code is ErrorCode.RESOURCE_NOT_FOUND
        finally:
            await cache.stop()
            await store.close()

    run(main())
