"""The compute market and federated learning from the client's side: ``client.compute``, ``client.fl`` and the
``cairn compute`` / ``cairn fl`` commands.

Modules, bottom up: ``errors``; ``records`` (what the APIs answer); ``jobs`` (kinds, params, input and output
names, submission defaults); ``market`` (the compute pallets' calls and storage); ``lineage`` (the walk from a
file to what made it); ``api`` (:class:`ComputeApi`), ``fl`` (:class:`FlApi`), ``sync`` (their blocking
faces) and ``cli``.
"""

from sdk.compute.api import ComputeApi
from sdk.compute.errors import (
    AbsurdResources,
    BadDeadline,
    BadInputs,
    BadRedundancy,
    ComputeError,
    InputDeleted,
    InputNotActive,
    InputNotPublic,
    InputNotReadable,
    InsufficientFunds,
    InvalidParams,
    JobNotVerified,
    NoSigner,
    NotEnoughProviders,
    Refused,
    ResultMismatch,
    UnknownInput,
    UnknownJob,
    UnknownKind,
    UnknownTask,
    WaitTimeout,
)
from sdk.compute.fl import FlApi, RoundProgress
from sdk.compute.records import (
    Departure,
    JobId,
    JobResult,
    JobStatus,
    Lineage,
    LineageEdge,
    LineageNode,
    Participation,
    Provider,
    Rerun,
    RoundStatus,
    Slot,
    TaskId,
    TaskStatus,
)
from sdk.compute.sync import BlockingComputeApi, BlockingFlApi

__all__ = [
    "ComputeApi", "FlApi", "BlockingComputeApi", "BlockingFlApi", "RoundProgress",
    "JobId", "TaskId", "Provider", "Departure", "Slot", "JobStatus", "JobResult", "Rerun", "Lineage", "LineageNode",
    "LineageEdge",
    "RoundStatus", "TaskStatus", "Participation",
    "ComputeError", "NoSigner", "Refused", "UnknownKind", "InvalidParams", "AbsurdResources", "BadInputs",
    "BadRedundancy", "BadDeadline", "UnknownInput", "InputNotActive", "InputDeleted", "InputNotPublic",
    "InputNotReadable", "InsufficientFunds",
    "NotEnoughProviders", "UnknownJob", "UnknownTask", "JobNotVerified", "ResultMismatch", "WaitTimeout",
]
