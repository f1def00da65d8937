"""Kafka Connect's exception hierarchy (org.apache.kafka.connect.errors), with the same meanings.

- `ConnectException`: any failure of the framework or of a plugin; a task raising it goes FAILED.
- `DataException`: a record cannot be converted or transformed (tolerated with `errors.tolerance=all`).
- `RetriableException`: the operation may succeed if retried (a sink's `put` is retried with the same batch).
- `NotFoundException`, `AlreadyExistsException`: herder lookups, answered 404 and 409 by the REST API.
- `ConflictException`: distributed mode's 409 (rebalance underway, no known leader).
"""

from __future__ import annotations


class ConnectException(Exception):
    pass


class DataException(ConnectException):
    pass


class RetriableException(ConnectException):
    pass


class NotFoundException(ConnectException):
    pass


class AlreadyExistsException(ConnectException):
    pass


class IllegalWorkerStateException(ConnectException):
    pass


class BadRequestException(ConnectException):
    """A request the herder refuses as malformed or invalid (REST 400)."""


class ConflictException(ConnectException):
    """A request that cannot be completed now: a rebalance is underway, no leader is known, or a forwarded request
    reached a worker that is not the leader either (REST 409, Kafka's ConnectRestException(CONFLICT))."""


class ForbiddenException(ConnectException):
    """A request refused by worker settings, e.g. topic tracking disabled (REST 403)."""
