"""Deterministic draws from chain randomness: which nodes take a fragment, and what an audit challenges.

Every node executing a block must pick the same nodes and chunks, so the only randomness is the parent block's
hash (house rule 1), stretched with BLAKE2b under a named tag (rule 6): ``draw(seed, *labels)`` is
``blake2_256(seed ++ label ++ ...)`` read as a little-endian integer. No floats: weights are integers and a
pick is a point on their cumulative sum.

- :class:`Candidates` picks one node with probability proportional to its weight (stake × reputation),
  skipping nodes a caller excludes (already holding the segment) or that lack room. A few weighted draws
  first; if every one lands on an unusable node, a scan from the last draw's position finds the next usable
  one, so a pick fails only when no node qualifies, and costs at most ``MAX_DRAWS + len(candidates)`` steps.
- :func:`sample_indices` draws ``count`` distinct indices out of ``population`` (a partial Fisher-Yates
  shuffle over a sparse map): the audited nodes of a round and the chunks of a challenge.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Container, Iterable

from runtime.hashing import DOMAIN_STORAGE_CHALLENGE, DOMAIN_STORAGE_PLACEMENT, blake2_256

__all__ = ["MAX_DRAWS", "draw", "placement_seed", "challenge_seed", "Candidates", "sample_indices"]

MAX_DRAWS = 16
"""Weighted draws before the scan: with at most a few excluded nodes per segment (k + m of them), sixteen
draws almost always land on a usable node, and the scan bounds the rare case."""


def draw(seed: bytes, *labels: bytes) -> int:
    """A 256-bit integer drawn from ``seed`` for the purpose the ``labels`` name."""
    return int.from_bytes(blake2_256(seed + b"".join(labels)), "little")


def placement_seed(parent_hash: bytes, file_id: bytes) -> bytes:
    """The seed of every placement decision about ``file_id`` in the block after ``parent_hash``."""
    return blake2_256(DOMAIN_STORAGE_PLACEMENT + parent_hash + file_id)


def challenge_seed(parent_hash: bytes, block_number: int) -> bytes:
    """The seed of the audit round run in block ``block_number`` (whose parent is ``parent_hash``)."""
    return blake2_256(DOMAIN_STORAGE_CHALLENGE + parent_hash + block_number.to_bytes(4, "little"))


@dataclass(frozen=True)
class Candidates:
    """Nodes with positive weights, in a fixed order, ready for weighted picks."""

    accounts: tuple[bytes, ...]
    cumulative: tuple[int, ...]
    """Running sums of the weights: node ``i`` owns the integers ``[cumulative[i-1], cumulative[i])``."""

    @classmethod
    def of(cls, weighted: Iterable[tuple[bytes, int]]) -> "Candidates":
        accounts, cumulative, total = [], [], 0
        for account, weight in weighted:
            if weight > 0:
                total += weight
                accounts.append(account)
                cumulative.append(total)
        return cls(tuple(accounts), tuple(cumulative))

    def __len__(self) -> int:
        return len(self.accounts)

    def pick(self, seed: bytes, label: bytes, excluded: Container[bytes],
             fits: Callable[[bytes], bool]) -> bytes | None:
        """A node not in ``excluded`` for which ``fits`` holds, weighted by stake × reputation; ``None`` if
        there is none."""
        if not self.accounts:
            return None
        total = self.cumulative[-1]
        position = 0
        for attempt in range(MAX_DRAWS):
            position = bisect_right(self.cumulative, draw(seed, label, attempt.to_bytes(2, "little")) % total)
            account = self.accounts[position]
            if account not in excluded and fits(account):
                return account
        count = len(self.accounts)
        for step in range(1, count):
            account = self.accounts[(position + step) % count]
            if account not in excluded and fits(account):
                return account
        return None


def sample_indices(seed: bytes, label: bytes, population: int, count: int) -> tuple[int, ...]:
    """``min(count, population)`` distinct integers of ``range(population)``, in draw order."""
    count = min(count, population)
    moved: dict[int, int] = {}
    out = []
    for i in range(count):
        j = i + draw(seed, label, i.to_bytes(4, "little")) % (population - i)
        out.append(moved.get(j, j))
        moved[j] = moved.get(i, i)
    return tuple(out)
