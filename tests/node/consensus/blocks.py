"""A block tree for voter tests: headers by hash, with the ancestry and best-descendant queries a voter
needs, and a set of the blocks one node has imported (a node cannot count a vote for a block it lacks)."""

from __future__ import annotations

from collections.abc import Iterator

from runtime.primitives import Header

Block = tuple[bytes, int]


class Tree:
    """Every block ever made, shared by all simulated nodes (hashes are cached: headers never change)."""

    def __init__(self) -> None:
        self.genesis = Header(bytes(32), 0, bytes(32), bytes(32))
        self.headers: dict[bytes, Header] = {self.genesis.hash: self.genesis}
        self.children: dict[bytes, list[bytes]] = {self.genesis.hash: []}

    def add(self, parent: bytes, tag: bytes) -> Header:
        header = Header(parent, self.headers[parent].number + 1, tag.ljust(32, b"\0"), bytes(32))
        block_hash = header.hash
        self.headers[block_hash] = header
        self.children[block_hash] = []
        self.children[parent].append(block_hash)
        return header

    def extend(self, parent: Header, length: int, tag: bytes) -> list[Header]:
        out = []
        for i in range(length):
            parent = self.add(parent.hash, tag + i.to_bytes(4, "big"))
            out.append(parent)
        return out

    def block(self, block_hash: bytes) -> Block:
        return block_hash, self.headers[block_hash].number

    def is_ancestor(self, ancestor: Block, block: Block) -> bool:
        """Whether ``ancestor`` is ``block`` or one of its ancestors."""
        block_hash, number = block
        while number > ancestor[1]:
            block_hash, number = self.headers[block_hash].parent_hash, number - 1
        return (block_hash, number) == ancestor


class View:
    """The blocks one node has, over the shared tree: ancestry stops at the node's finalized height (as the
    node's block tree does), and the best block is the highest it has that contains the finalized one."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.known: set[bytes] = {tree.genesis.hash}
        self.finalized: Block = (tree.genesis.hash, 0)

    def import_block(self, block_hash: bytes) -> bool:
        """Add a block and its missing ancestors; returns whether anything was new."""
        added = False
        while block_hash not in self.known:
            self.known.add(block_hash)
            added = True
            block_hash = self.tree.headers[block_hash].parent_hash
        return added

    def ancestry(self, block_hash: bytes) -> Iterator[Block]:
        if block_hash not in self.known:
            return
        header = self.tree.headers[block_hash]
        while True:
            yield block_hash, header.number
            if header.number <= self.finalized[1]:
                return
            block_hash = header.parent_hash
            header = self.tree.headers[block_hash]

    def best(self) -> Block:
        """The highest known block containing the finalized one (ties: the lowest hash)."""
        best = self.finalized
        pending = [self.finalized[0]]
        while pending:
            block_hash = pending.pop()
            for child in self.tree.children[block_hash]:
                if child in self.known:
                    candidate = self.tree.block(child)
                    if (candidate[1], -int.from_bytes(child, "big")) > (best[1], -int.from_bytes(best[0], "big")):
                        best = candidate
                    pending.append(child)
        return best

    def best_descendant(self, base: bytes) -> Block:
        best = self.best()
        base_block = self.tree.block(base)
        return best if self.tree.is_ancestor(base_block, best) else base_block

    def header(self, block_hash: bytes) -> Header:
        return self.tree.headers[block_hash]
