"""What a job submission is made of, worked out on this side of the chain: the kind, its params as the kind's
strict JSON, the names its inputs and outputs go by, and the defaults ``submit`` fills in.

**Inputs and outputs by position.** A job's inputs and verified outputs are lists of file ids on chain; the
kinds name theirs. Inputs are named by ``compute_pallet.kinds`` (``named_inputs``, ``input_sizes``: ``train``
[dataset, model?], ``evaluate`` and ``infer`` [model, dataset], ``fedavg`` [base, updates…, validation?]).
Outputs are the kind's output files in name order, then ``result.json`` (the run's result record), which is
how ``result`` names what it downloads.

**Defaults.** ``resources``: the kind's own estimate over the inputs' sizes (``kind.resources``), in whole MiB.
``max_price``: the offer of the (r + ``DisputeExtra``)-th cheapest eligible provider, so that the first round
and a dispute both find providers within the cap, or the dearest eligible offer when fewer are eligible.
``deadline``: two commit windows (each ``CommitPeriod`` plus the run's estimated time, as the chain counts
them) and reveal periods, for the first round and a dispute, at most ``MaxJobDuration``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from compute_pallet import kinds
from compute_pallet.kinds.params import IntListField
from compute_pallet.kinds.types import ceil_div
from compute_pallet.pallets.jobs import commit_window
from compute_pallet.pallets.types import ProviderInfo, Resources
from sdk.compute.errors import BadInputs, InvalidParams, NotEnoughProviders, UnknownKind

__all__ = ["ParamsLike", "RESULT_NAME", "OUTPUT_NAMES", "resolve_kind", "kind_name", "build_params",
           "params_from_args", "output_names", "estimate", "chain_resources", "eligible_prices",
           "default_price_cap", "deadlines"]

ParamsLike = Mapping[str, object] | bytes | None
"""A job's params: a mapping (encoded as the kind's strict JSON), the JSON bytes themselves, or ``None`` (``{}``)."""

RESULT_NAME = "result.json"
"""The last output of every verified job: the run's result record, canonical JSON."""

OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("model.safetensors",),
    "evaluate": (),
    "infer": ("predictions.npz",),
    "fedavg": ("model.safetensors",),
}
"""Each kind's output files, in name order (the order a worker reveals them in)."""

MIB = 1 << 20


def resolve_kind(kind: str | int) -> tuple[str, int]:
    """``kind`` (a name or an on-chain id) as (name, id); :class:`UnknownKind` for neither."""
    for name, kind_id in kinds.KIND_IDS.items():
        if kind in (name, kind_id) and not isinstance(kind, bool):
            return name, kind_id
    raise UnknownKind(f"no job kind {kind!r} (known: {', '.join(kinds.KIND_IDS)})")


def kind_name(kind_id: int) -> str:
    """The name of the kind with on-chain id ``kind_id`` (``kind#<id>`` for one this client does not know)."""
    return kinds.KIND_NAMES.get(kind_id, f"kind#{kind_id}")


def build_params(kind: str, params: ParamsLike) -> bytes:
    """The params as the kind's strict JSON bytes (keys sorted, no spaces), checked by the kind itself;
    :class:`InvalidParams` if it would refuse them."""
    if params is None:
        encoded = b"{}"
    elif isinstance(params, bytes):
        encoded = params
    else:
        try:
            encoded = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                 allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidParams(f"{kind} params are not JSON: {exc}") from None
    try:
        kinds.validate_params(kind, encoded)
    except kinds.InvalidParams as exc:
        raise InvalidParams(f"{kind} params refused: {exc}") from None
    return encoded


def params_from_args(kind: str, pairs: Sequence[str]) -> dict[str, object]:
    """``--param name=value`` arguments as a params mapping: each value read as JSON (``64``, ``0.05``,
    ``[64, 32]``, ``"mean"``), else as a string; a list field also takes ``64`` or ``64,32``."""
    fields = kinds.kind(resolve_kind(kind)[0]).FIELDS
    params: dict[str, object] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InvalidParams(f"--param {pair!r}: expected name=value")
        if isinstance(fields.get(name), IntListField) and not text.lstrip().startswith("["):
            text = f"[{text}]"
        try:
            params[name] = json.loads(text)
        except json.JSONDecodeError:
            params[name] = text
        except RecursionError:  # [[[[…: nested deeper than any kind's field
            raise InvalidParams(f"--param {name}: nested too deep") from None
    return params


def output_names(kind: str, count: int) -> tuple[str, ...]:
    """File names for a verified job's ``count`` outputs: the kind's outputs, then ``result.json`` (outputs past
    what this client knows of the kind are ``output.<i>``)."""
    known = OUTPUT_NAMES.get(kind, ())
    names = [known[i] if i < len(known) else f"output.{i}" for i in range(count - 1)]
    return (*names, RESULT_NAME) if count else ()


def estimate(kind: str, params: bytes, sizes: Sequence[int]) -> kinds.Resources:
    """The kind's own estimate of one run over inputs of ``sizes`` bytes (in the job's order);
    :class:`BadInputs` for more inputs than the kind takes."""
    try:
        return kinds.estimate(kind, params, sizes)
    except kinds.InvalidInputs as exc:
        raise BadInputs(str(exc)) from None


def chain_resources(needs: kinds.Resources) -> Resources:
    """An estimate as the chain states resources: cores, whole MiB of memory, no GPU."""
    return Resources(needs.cpu_cores, max(1, ceil_div(needs.memory_bytes, MIB)), 0)


def eligible_prices(providers: Sequence[tuple[bytes, ProviderInfo]], kind_id: int, resources: Resources, *,
                    block: int, heartbeat_timeout: int, min_stake: int, max_jobs: int) -> list[int]:
    """The offers, cheapest first, of the providers the chain could assign the job to at ``block``: the kind
    offered, the hardware fits, and the pallet's own rule (:meth:`ProviderInfo.can_take`: staying, a fresh
    heartbeat, enough stake, a free slot)."""
    prices = []
    for _, info in providers:
        price = info.price_of(kind_id)
        if (price is not None and info.hardware.fits(resources)
                and info.can_take(block, heartbeat_timeout=heartbeat_timeout, min_stake=min_stake, max_jobs=max_jobs)):
            prices.append(price)
    return sorted(prices)


def default_price_cap(prices: Sequence[int], redundancy: int, dispute_extra: int) -> int:
    """The cap that lets the first round and a dispute find providers among offers ``prices`` (cheapest first):
    the (r + ``dispute_extra``)-th cheapest, or the dearest when fewer; :class:`NotEnoughProviders` below r."""
    if len(prices) < redundancy:
        raise NotEnoughProviders(f"{len(prices)} eligible providers, the redundancy asks for {redundancy}")
    return prices[min(len(prices), redundancy + dispute_extra) - 1]


def deadlines(*, commit_period: int, reveal_period: int, run: kinds.Resources, block_ms: int,
              max_duration: int) -> tuple[int, int]:
    """The shortest deadline, in blocks from now, the chain takes for a job whose run its kind estimates as
    ``run`` (a commit window and a reveal period, from the block after next, where the submission lands at the
    soonest), and the default one: room for the first round and a dispute, at most ``max_duration``."""
    window = commit_window(commit_period, run, block_ms, max_duration)
    return window + reveal_period + 1, min(max_duration, 2 * (window + reveal_period))
