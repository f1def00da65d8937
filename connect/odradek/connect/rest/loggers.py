"""`/admin/loggers` (KIP-495): Python loggers named and levelled as Kafka's log4j ones.

Levels accepted (any case): OFF, FATAL, ERROR, WARN, INFO, DEBUG, TRACE (TRACE is Python level 5, OFF is above
CRITICAL). Setting a level on a name sets it on that logger and every logger below it in the dotted namespace, as
Kafka does, and returns the names changed. `last_modified` is the epoch ms of the last change through the API, or
null. The root logger is listed as `root`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from odradek.connect.api.errors import BadRequestException, NotFoundException

TRACE = 5
OFF = logging.CRITICAL + 10
LEVELS = {
    "OFF": OFF,
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": TRACE,
}
_NAMES = {value: name for name, value in LEVELS.items()}
ROOT = "root"


def level_name(level: int) -> str:
    return _NAMES.get(level) or logging.getLevelName(level)


class Loggers:
    def __init__(self) -> None:
        self.last_modified: dict[str, int] = {}

    def _logger(self, name: str) -> logging.Logger:
        return logging.getLogger() if name == ROOT else logging.getLogger(name)

    def _known(self) -> list[str]:
        names = [n for n, obj in logging.root.manager.loggerDict.items() if isinstance(obj, logging.Logger)]
        return sorted(names)

    def level(self, name: str) -> dict[str, Any]:
        if name != ROOT and name not in logging.root.manager.loggerDict:
            raise NotFoundException(f"Logger {name} not found.")
        logger = self._logger(name)
        return {"level": level_name(logger.getEffectiveLevel()), "last_modified": self.last_modified.get(name)}

    def all_levels(self) -> dict[str, dict[str, Any]]:
        out = {ROOT: self.level(ROOT)}
        for name in self._known():
            if logging.getLogger(name).level != logging.NOTSET:
                out[name] = self.level(name)
        return out

    def set_level(self, namespace: str, level: Any) -> list[str]:
        if level is None:
            raise BadRequestException("Desired 'level' parameter was not specified in request.")
        value = LEVELS.get(str(level).upper())
        if value is None:
            raise NotFoundException(f"invalid log level '{level}'.")
        if namespace == ROOT:
            affected = [ROOT, *self._known()]
        else:
            affected = [namespace] + [n for n in self._known() if n.startswith(namespace + ".")]
        now = int(time.time() * 1000)
        for name in affected:
            self._logger(name).setLevel(value)
            self.last_modified[name] = now
        return sorted(set(affected))
