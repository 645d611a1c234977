"""The DA node role: ``cairn da-node`` processes following the devnet's validators.

DA node ``i`` acts as the account ``//DA<i>`` (endowed in the devnet's chain spec through
:attr:`devnet.role.Role.account`), follows validator ``i mod n``'s RPC, serves cells on the ``http`` port it
reports and keeps them under its data folder. Four by default: with eight custody draws a column over four
equal stakes, each node keeps ~90 % of a blob's columns, and one node failing or withholding leaves every
column with another custodian in all but ~0.2 % of blobs (and every blob rebuildable).

:func:`withhold` is the ``cairn devnet withhold da-2`` fault: it creates the node's ``withhold`` switch file
(:data:`da_layer.service.daemon.WITHHOLD_FILE`), after which the node serves no cells and answers no audits
while still attesting, until ``cairn devnet withhold da-2 --off`` removes it. Its next audit slashes it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from da_layer.service.daemon import WITHHOLD_FILE
from devnet.role import Launch, ProcessPaths, Reading, Role, http_health
from devnet.state import DevnetError, ProcessRecord

__all__ = ["DA", "withhold"]

NAME = "da"


def da_account(index: int) -> str:
    return f"//DA{index}"


def da_command(launch: Launch, index: int, ports: Mapping[str, int], paths: ProcessPaths) -> list[str]:
    return [sys.executable, "-m", "da_layer.service", *launch.follow_args(index, "DA nodes"),
            "--key", da_account(index), "--base-path", str(paths.data), "--http-port", str(ports["http"]),
            "--workers", "1"]


def da_status(record: ProcessRecord) -> dict[str, Reading]:
    """Blobs and cells held, and whether it withholds, as the node's health endpoint answers them."""
    url = record.url("http")
    health = http_health(record)
    try:
        columns: dict[str, Reading] = {"blobs": int(health["blobs"]), "cells": int(health["cells"]), "http": url}
    except (KeyError, TypeError, ValueError):
        return {"http": f"{url} (not answering)"}
    if health.get("withholding"):
        columns["fault"] = "withholding"
    return columns


def withhold(record: ProcessRecord, on: bool = True) -> Path:
    """Make a DA node withhold its cells (or, ``on=False``, serve them again); the switch file."""
    if record.role != NAME:
        raise DevnetError(f"{record.name} is not a DA node: only DA nodes hold cells to withhold")
    switch = Path(record.data) / WITHHOLD_FILE
    if on:
        switch.touch()
    else:
        switch.unlink(missing_ok=True)
    return switch


DA = Role(name=NAME, section="da_nodes", ports=("http",), command=da_command, status=da_status,
          default_count=4, min_count=0, max_count=32, account=da_account)
