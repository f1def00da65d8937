"""Helpers shared by the transaction handlers: the coordinator, old clients' error codes, and creating
`__transaction_state` on first use.

Kafka creates `__transaction_state` when a client first looks for a transaction coordinator:
`transaction.state.log.num.partitions` partitions, replication factor `transaction.state.log.replication.factor`
capped at the live brokers, compacted, `transaction.state.log.segment.bytes` segments, uncompressed,
`min.insync.replicas` = `transaction.state.log.min.isr` (here capped at the replication factor, so that a single
broker can serve transactions with the defaults; Kafka refuses appends then, NOT_ENOUGH_REPLICAS).
"""

from __future__ import annotations

from odradek.broker.handlers.context import BrokerServices
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.txn.coordinator import TransactionCoordinator
from odradek.broker.txn.transaction_log import TRANSACTION_STATE_TOPIC

TRANSACTION_STATE_TOPIC_WAIT_S = 10.0


def old_client_error(error: ErrorCode, version: int, fenced_from: int) -> ErrorCode:
    """PRODUCER_FENCED exists for clients from request version `fenced_from`; older ones get
    INVALID_PRODUCER_EPOCH (KafkaApis does the same per API)."""
    if error is ErrorCode.PRODUCER_FENCED and version < fenced_from:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return error


def transaction_coordinator(services: BrokerServices) -> TransactionCoordinator | None:
    return services.txn_coordinator


async def ensure_transaction_state_topic(services: BrokerServices) -> ErrorCode:
    """Create __transaction_state if it does not exist yet; NONE once it exists."""
    if TRANSACTION_STATE_TOPIC in services.metadata.image.topics:
        return ErrorCode.NONE
    config = services.config
    brokers = await services.controller.live_brokers()
    factor = min(config.get_int("transaction.state.log.replication.factor"), max(len(brokers), 1))
    configs = {
        "cleanup.policy": "compact",
        "compression.type": "uncompressed",
        "segment.bytes": str(config.get_int("transaction.state.log.segment.bytes")),
        "min.insync.replicas": str(min(config.get_int("transaction.state.log.min.isr"), factor)),
        "unclean.leader.election.enable": "false",
    }
    try:
        await services.controller.create_topic(
            TRANSACTION_STATE_TOPIC,
            config.get_int("transaction.state.log.num.partitions"),
            factor,
            configs,
            None,
            False,
        )
    except ControllerError as exc:
        if exc.error_code != ErrorCode.TOPIC_ALREADY_EXISTS:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
    await services.sync_replicas(TRANSACTION_STATE_TOPIC_WAIT_S)
    if TRANSACTION_STATE_TOPIC in services.metadata.image.topics:
        return ErrorCode.NONE
    return ErrorCode.COORDINATOR_NOT_AVAILABLE
