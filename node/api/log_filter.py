"""``system_addLogFilter`` / ``system_resetLogFilter``: change which log records the node emits, at run time.

Substrate takes directives in ``RUST_LOG`` syntax: ``target=level`` pairs separated by commas, or a bare
``level`` for everything (``sync=debug,state=trace``). Here a target is a Python logger name (``cairn.node``,
``node.network.service``, ``node.rpc``; a logger governs its children too) and the levels are Substrate's:
``error``, ``warn``, ``info``, ``debug``, ``trace`` (below ``debug``) and ``off``. Resetting puts back the
level of every logger a directive changed, as it was before the first change.

Directives come from clients (unsafe methods, but still): the text is bounded before it is parsed, and a
malformed directive changes nothing.
"""

from __future__ import annotations

import logging

__all__ = ["LogFilter", "InvalidDirective", "MAX_DIRECTIVES_TEXT", "TRACE"]

MAX_DIRECTIVES_TEXT = 4096
"""Characters of one ``system_addLogFilter`` argument."""
MAX_TARGET_LENGTH = 256
TRACE = 5
"""Substrate's ``trace``: below ``logging.DEBUG``."""
LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG,
          "trace": TRACE, "off": logging.CRITICAL + 10}


class InvalidDirective(ValueError):
    """A directive that is not ``[target=]level`` with a known level."""


class LogFilter:
    """The node's log levels as changed by clients, and what they were before."""

    def __init__(self) -> None:
        self._original: dict[str, int] = {}

    def add(self, directives: str) -> None:
        """Apply ``directives`` (all of them, or none if one is malformed)."""
        if len(directives) > MAX_DIRECTIVES_TEXT:
            raise InvalidDirective(f"directives must be at most {MAX_DIRECTIVES_TEXT} characters")
        changes = [_parse(part.strip()) for part in directives.split(",") if part.strip()]
        for target, level in changes:
            logger = logging.getLogger(target)
            self._original.setdefault(target, logger.level)
            logger.setLevel(level)

    def reset(self) -> None:
        """Every logger back to the level it had before the first directive touched it."""
        for target, level in self._original.items():
            logging.getLogger(target).setLevel(level)
        self._original.clear()


def _parse(directive: str) -> tuple[str, int]:
    """``(logger name, level)``; the root logger (``""``) for a bare level."""
    target, _, level = directive.rpartition("=")
    if level.lower() not in LEVELS:
        raise InvalidDirective(f"{directive!r}: the level must be one of {', '.join(LEVELS)}")
    if len(target) > MAX_TARGET_LENGTH or not all(c.isalnum() or c in "._-:" for c in target):
        raise InvalidDirective(f"{directive!r}: a target is a logger name such as cairn.node")
    return target, LEVELS[level.lower()]
