"""AlterUserScramCredentials (key 51), v0: add, replace or remove users' SCRAM credentials (KIP-554).

Needs ALTER on the cluster (else every result is CLUSTER_AUTHORIZATION_FAILED). An upsertion carries the salt and
the salted password the client computed; the broker keeps only the stored key and server key derived from it
(Kafka's ScramControlManager.finishUpsertion). Per user, Kafka's checks and messages: a user altered twice in the
request DUPLICATE_RESOURCE; an empty name UNACCEPTABLE_CREDENTIAL; an unknown mechanism
UNSUPPORTED_SASL_MECHANISM; iterations outside 4096..16384 UNACCEPTABLE_CREDENTIAL; deleting a credential that does
not exist RESOURCE_NOT_FOUND.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.auth.scram import MECHANISMS_BY_TYPE, ScramCredential, check_iterations
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.security import scram_record
from odradek.broker.metadata.errors import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.alter_user_scram_credentials_request import (
    AlterUserScramCredentialsRequest,
    ScramCredentialDeletion,
    ScramCredentialUpsertion,
)
from odradek.broker.protocol.messages.alter_user_scram_credentials_response import (
    AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResult,
)

API_KEY = 51
VERSIONS = (0, 0)

Change = ScramCredentialDeletion | ScramCredentialUpsertion


def _refusal(change: Change) -> tuple[int, str] | None:
    if not change.name:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    if change.mechanism not in MECHANISMS_BY_TYPE:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    if isinstance(change, ScramCredentialUpsertion):
        problem = check_iterations(change.iterations)
        if problem:
            return ErrorCode.UNACCEPTABLE_CREDENTIAL, problem
    return None


async def handle(request: AlterUserScramCredentialsRequest, ctx: RequestContext) -> AlterUserScramCredentialsResponse:
    changes: list[Change] = [*request.deletions, *request.upsertions]
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        users = dict.fromkeys(change.name for change in changes)
        return AlterUserScramCredentialsResponse(
            results=[
                AlterUserScramCredentialsResult(
                    user=u, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, error_message=None
                )
                for u in users
            ]
        )
    seen: dict[str, int] = {}
    for change in changes:
        seen[change.name] = seen.get(change.name, 0) + 1
    results: dict[str, AlterUserScramCredentialsResult] = {}
    for change in changes:
        name = change.name
        if name in results:
            continue
        refusal: tuple[int, str] | None
        if seen[name] > 1:
            refusal = ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request"
        else:
            refusal = _refusal(change)
        if refusal is None:
            refusal = await _apply(ctx, change)
        code, message = refusal or (ErrorCode.NONE, None)
        results[name] = AlterUserScramCredentialsResult(user=name, error_code=code, error_message=message)
    await ctx.services.sync_metadata()
    return AlterUserScramCredentialsResponse(results=list(results.values()))


async def _apply(ctx: RequestContext, change: Change) -> tuple[int, str] | None:
    mechanism = MECHANISMS_BY_TYPE[change.mechanism]
    controller = ctx.services.controller
    try:
        if isinstance(change, ScramCredentialDeletion):
            await controller.delete_scram_credential(mechanism.name, change.name)
        else:
            credential = ScramCredential.from_salted_password(
                mechanism, bytes(change.salt), bytes(change.salted_password), change.iterations
            )
            await controller.put_scram_credential(mechanism.name, change.name, scram_record(credential))
    except ControllerError as exc:
        return exc.error_code, exc.message
    return None
