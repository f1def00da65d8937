"""The storage layers carry Kafka's error codes as ints (they do not import the protocol package): the values
must be Kafka's."""

from __future__ import annotations

from odradek.broker.log import log
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records import batch


def test_storage_error_codes_are_kafkas() -> None:
    assert batch.CORRUPT_MESSAGE == ErrorCode.CORRUPT_MESSAGE
    assert batch.MESSAGE_TOO_LARGE == ErrorCode.MESSAGE_TOO_LARGE
    assert batch.INVALID_TIMESTAMP == ErrorCode.INVALID_TIMESTAMP
    assert batch.UNSUPPORTED_FOR_MESSAGE_FORMAT == ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT
    assert batch.INVALID_RECORD == ErrorCode.INVALID_RECORD
    assert log.OFFSET_OUT_OF_RANGE == ErrorCode.OFFSET_OUT_OF_RANGE
