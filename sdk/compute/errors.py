"""The compute client's typed errors: one class per refusal a caller can act on, the same whether this
client caught it before submitting or the chain refused the call.

    ChainClientError                          (sdk.chain.errors)
    ├── NoSigner (BadArgument)                the operation signs, and the client has no signer (the storage
    │                                         client's own class: one client, one answer)
    └── ComputeError
        ├── Refused                           a compute or federated-learning call refused (``failure``: the
        │   │                                 chain's DispatchError, ``None`` when checked here first)
        │   ├── UnknownKind (LookupError)     no job kind with this name or id
        │   ├── InvalidParams (BadArgument)   the kind cannot run with these params (or they are too long)
        │   ├── AbsurdResources               no core or memory, less memory than the kind's estimate, or
        │   │                                 more than any machine has
        │   ├── BadInputs, BadRedundancy, BadDeadline   out of the chain's bounds
        │   ├── UnknownInput (LookupError)    an input / model / dataset file does not exist
        │   ├── InputNotActive                it is not active (yet, or any more)
        │   │   └── InputDeleted              its owner deleted it (kept only for the runs reading it)
        │   ├── InputNotReadable (PermissionError)  the submitter (task creator) may not read it
        │   ├── InsufficientFunds             the escrow, task funds or stake cannot be held
        │   ├── NotEnoughProviders            fewer eligible providers than the redundancy
        │   ├── UnknownJob, UnknownTask (LookupError)
        ├── JobNotVerified                    ``result`` of a job that failed or is still running
        ├── ResultMismatch                    downloaded outputs that do not hash to the verified digest
        └── WaitTimeout (TimeoutError)        ``wait`` / ``participate`` ran past its timeout

:func:`refusal` maps a failed extrinsic's :class:`~sdk.chain.types.DispatchFailure` to its class by the
error's name (the pallets' names, which metadata pins), so a refusal by the chain and the same refusal caught
here are one ``except`` clause.
"""

from __future__ import annotations

from sdk.chain.errors import BadArgument, ChainClientError
from sdk.chain.types import DispatchFailure
from sdk.storage.errors import NoSigner

__all__ = ["ComputeError", "NoSigner", "Refused", "UnknownKind", "InvalidParams", "AbsurdResources", "BadInputs", "BadRedundancy",
           "BadDeadline", "UnknownInput", "InputNotActive", "InputDeleted", "InputNotReadable", "InputNotPublic",
           "InsufficientFunds",
           "NotEnoughProviders", "UnknownJob", "UnknownTask", "JobNotVerified", "ResultMismatch", "WaitTimeout", "refusal"]


class ComputeError(ChainClientError):
    """Base of every error of ``client.compute`` and ``client.fl``."""


class Refused(ComputeError):
    """A call of ``ComputeJobs``, ``ComputeProviders`` or ``FederatedLearning`` was refused: by the chain
    (``failure`` says why, in the runtime's words) or by this client's own check of the same rule first
    (``failure`` is ``None``; nothing was submitted)."""

    def __init__(self, message: str, failure: DispatchFailure | None = None) -> None:
        super().__init__(message)
        self.failure = failure


class UnknownKind(Refused, LookupError):
    """No job kind has this name or id (``compute_pallet.kinds.KIND_IDS``)."""


class InvalidParams(Refused, BadArgument):
    """The kind cannot run with these params: not its strict JSON, an unknown or out-of-range field, or longer
    than the chain's ``MaxParamsLength``."""


class AbsurdResources(Refused, BadArgument):
    """No CPU core or no memory asked for, less memory than the kind estimates one run over the inputs takes
    (the chain's ``MemoryTooLow``), or more than any machine offers."""


class BadInputs(Refused, BadArgument):
    """A job names no input file, or more than the chain's ``MaxInputs``; or a federated task's base model is no
    model, or its validation set no dataset the model takes."""


class BadRedundancy(Refused, BadArgument):
    """Redundancy 0 (below 2 for a federated task's aggregation), or above the chain's ``MaxRedundancy``."""


class BadDeadline(Refused, BadArgument):
    """The deadline leaves less than a commit and a reveal phase, or is past ``MaxJobDuration``; or the job (a
    federated task's aggregation) is estimated to run longer than any deadline the chain takes."""


class UnknownInput(Refused, LookupError):
    """An input file (a job's input, a task's model or validation set) does not exist."""


class InputNotActive(Refused):
    """An input file is not active: still being stored, or lost."""


class InputDeleted(InputNotActive):
    """An input's owner deleted it while jobs or federated rounds were reading it: it is kept for those until
    they end, and takes no new one."""


class InputNotReadable(Refused, PermissionError):
    """The submitter (or the task's creator) may not read an input: not its owner, not public, no grant."""


class InputNotPublic(InputNotReadable):
    """A federated task's base model or validation set is private: its participants and providers could not
    read it."""


class InsufficientFunds(Refused):
    """The account cannot put the job's escrow, the task's funds or a participant's stake on hold."""


class NotEnoughProviders(Refused):
    """Fewer providers are eligible (the kind offered within the price cap, hardware that fits, alive, not
    full) than the redundancy asks for."""


class UnknownJob(Refused, LookupError):
    """No job has this id."""


class UnknownTask(Refused, LookupError):
    """No federated-learning task has this id."""


class JobNotVerified(ComputeError):
    """The job has no verified result: it failed, or it is still running (``status`` says which)."""


class ResultMismatch(ComputeError):
    """The outputs downloaded for a verified job, with its ``result.json``, do not hash to the digest the chain
    verified: the files named on chain are not what the agreeing providers ran (a provider uploaded others)."""


class WaitTimeout(ComputeError, TimeoutError):
    """A wait ran past the timeout it was given; the job or task goes on without it."""


_BY_NAME: dict[str, type[Refused]] = {
    "UnknownKind": UnknownKind,
    "InvalidParams": InvalidParams,
    "ParamsTooLong": InvalidParams,
    "AbsurdResources": AbsurdResources,
    "MemoryTooLow": AbsurdResources,
    "BadInputs": BadInputs,
    "BadRedundancy": BadRedundancy,
    "BadDeadline": BadDeadline,
    "UnknownInput": UnknownInput,
    "UnknownFile": UnknownInput,
    "InputNotActive": InputNotActive,
    "FileNotActive": InputNotActive,
    "InputDeleted": InputDeleted,
    "FileDeleting": InputDeleted,
    "InputNotReadable": InputNotReadable,
    "FileNotReadable": InputNotReadable,
    "FileNotPublic": InputNotPublic,
    "InsufficientFunds": InsufficientFunds,
    "NotEnoughProviders": NotEnoughProviders,
    "UnknownJob": UnknownJob,
    "UnknownTask": UnknownTask,
}
"""The pallets' error names (``ComputeJobs``, ``FederatedLearning``) each class stands for."""

_PALLETS = frozenset({"ComputeJobs", "ComputeProviders", "FederatedLearning"})


def refusal(what: str, failure: DispatchFailure | None) -> Refused:
    """The typed error for ``what`` (``"ComputeJobs.submit"``) having failed with ``failure``: the class named by
    the compute pallets' error, plain :class:`Refused` for any other (a ``Balances`` or ``Token`` error)."""
    cls = _BY_NAME.get(failure.name, Refused) if failure is not None and failure.pallet in _PALLETS else Refused
    return cls(f"{what} failed: {failure}", failure)
