"""DescribeUserScramCredentials (key 50), v0: which SCRAM mechanisms (and iteration counts) users have.

Needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED: for each user named, or at the top level when
none is). `users` null or empty:
every user with a credential. A named user without any credential: RESOURCE_NOT_FOUND; a user named twice:
DUPLICATE_RESOURCE (Kafka's messages). Never a salt or a key.
"""

from __future__ import annotations

from collections import Counter

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.auth.scram import MECHANISMS
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_user_scram_credentials_request import (
    DescribeUserScramCredentialsRequest,
)
from odradek.broker.protocol.messages.describe_user_scram_credentials_response import (
    CredentialInfo,
    DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResult,
)

API_KEY = 50
VERSIONS = (0, 0)


async def handle(
    request: DescribeUserScramCredentialsRequest, ctx: RequestContext
) -> DescribeUserScramCredentialsResponse:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        denied = ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed."
        if not request.users:
            return DescribeUserScramCredentialsResponse(error_code=denied[0], error_message=denied[1])
        # Kafka's getErrorResponse also sets the top-level error when users are named; librdkafka 2.16 aborts
        # the process on that response, so the error is given per user only (each named user is refused).
        return DescribeUserScramCredentialsResponse(
            results=[
                DescribeUserScramCredentialsResult(user=user.name, error_code=denied[0], error_message=denied[1])
                for user in request.users
            ]
        )
    await ctx.services.sync_metadata()
    stored = ctx.services.metadata.image.scram_credentials
    by_user: dict[str, list[CredentialInfo]] = {}
    for (mechanism, user), record in sorted(stored.items()):
        if mechanism in MECHANISMS:
            by_user.setdefault(user, []).append(
                CredentialInfo(mechanism=MECHANISMS[mechanism].type_code, iterations=record.iterations)
            )
    if not request.users:
        return DescribeUserScramCredentialsResponse(
            results=[DescribeUserScramCredentialsResult(user=u, credential_infos=c) for u, c in by_user.items()]
        )
    counts = Counter(user.name for user in request.users)
    results = []
    for name in dict.fromkeys(user.name for user in request.users):
        if counts[name] > 1:
            results.append(
                DescribeUserScramCredentialsResult(
                    user=name,
                    error_code=ErrorCode.DUPLICATE_RESOURCE,
                    error_message="Cannot describe SCRAM credentials for the same user twice in a single request",
                )
            )
        elif name not in by_user:
            results.append(
                DescribeUserScramCredentialsResult(
                    user=name,
                    error_code=ErrorCode.RESOURCE_NOT_FOUND,
                    error_message="Attempt to describe a user credential that does not exist",
                )
            )
        else:
            results.append(DescribeUserScramCredentialsResult(user=name, credential_infos=by_user[name]))
    return DescribeUserScramCredentialsResponse(results=results)
