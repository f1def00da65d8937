"""``ControllerError``: a controller request refused with a Kafka error code (``ErrorCode``).

Handlers put ``error_code`` and ``message`` straight into the response (CreateTopics, DeleteTopics,
CreatePartitions, IncrementalAlterConfigs ...). Config validators plugged into the ``Controller`` raise it
too, normally with ``ErrorCode.INVALID_CONFIG``.
"""

from __future__ import annotations

from odradek.broker.protocol.errors import ErrorCode

__all__ = ["ControllerError", "ErrorCode"]


class ControllerError(Exception):
    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(f"{ErrorCode.from_code(error_code).name} ({error_code}): {message}")
        self.error_code = ErrorCode.from_code(error_code)
        self.message = message
