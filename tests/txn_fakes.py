"""Fakes of what the transaction coordinator is given (`txn.api`), shared by its unit tests and the marker
channel's: a producer id generator counting from 1001, and a `TxnMarkerWriter` that records every call."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.txn.api import TopicPartition


class ProducerIds:
    """An in-memory stand-in for the ProducerIdManager (`async generate_producer_id() -> int`)."""

    def __init__(self) -> None:
        self.next = 1000

    async def generate_producer_id(self) -> int:
        self.next += 1
        return self.next


class MarkerWriter:
    """`written`: (producer id, producer epoch, commit, partitions) of each call; a partition in `errors` answers
    its error, the others NONE; with `block`, calls never answer; with a `gate`, they answer once it is set."""

    def __init__(self) -> None:
        self.written: list[tuple[int, int, bool, tuple[TopicPartition, ...]]] = []
        self.errors: dict[TopicPartition, ErrorCode] = {}
        self.block = False
        self.gate: asyncio.Event | None = None

    async def write_markers(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        partitions: Sequence[TopicPartition],
    ) -> Mapping[TopicPartition, ErrorCode]:
        if self.block:
            await asyncio.get_running_loop().create_future()  # never answers
        if self.gate is not None:
            await self.gate.wait()
        self.written.append((producer_id, producer_epoch, commit, tuple(partitions)))
        return {tp: self.errors.get(tp, ErrorCode.NONE) for tp in partitions}
