// The recent blocks the chain view lists, kept bounded: the newest LIMIT by number, whatever the chain's
// length, so a devnet that ran for hours costs the page no more than one that just started.
//
// The list is the best chain as the heads tell it. A head at height N replaces the block listed at N (a
// re-org's head), drops any listed above N, and names its parent: a block listed at N - 1 with another hash
// (or none yet) was re-orged away and is replaced by the parent. Each block costs two small calls: its hash
// (chain_getBlockHash, for the head itself; a header does not carry its own hash) and its extrinsic count
// from explorer_block, which the node answers bounded however big the block, never the raw block.

export const LIMIT = 100;
const BACKFILL = 20; // blocks loaded when the page connects, before live heads fill the list
const EXPLORER_MAX_ITEMS = 1000; // extrinsics explorer_block lists at most (node/api/explorer.py MAX_ITEMS)

// Record the head at `number` whose parent is `parentHash` in `byNumber` (number -> {number, hash,
// extrinsics}), as the top of this file says; returns the entries it put in, to be loaded.
export function reconcile(byNumber, number, parentHash) {
  for (const listed of [...byNumber.keys()]) if (listed > number) byNumber.delete(listed);
  const added = [{ number, hash: null, extrinsics: null }];
  const parent = byNumber.get(number - 1);
  if (parent && parentHash && parent.hash !== parentHash) {
    added.push({ number: number - 1, hash: parentHash, extrinsics: null });
  }
  for (const entry of added) byNumber.set(entry.number, entry);
  return added;
}

export class BlockLog {
  constructor(rpc, limit = LIMIT) {
    this.rpc = rpc;
    this.limit = limit;
    this.byNumber = new Map(); // number -> {number, hash, extrinsics}
  }

  // Newest first.
  list() {
    return [...this.byNumber.values()].sort((a, b) => b.number - a.number);
  }

  // A new best head (its number and its header's parentHash).
  async add(number, parentHash) {
    const added = reconcile(this.byNumber, number, parentHash);
    const numbers = [...this.byNumber.keys()].sort((a, b) => a - b);
    for (const old of numbers.slice(0, Math.max(0, numbers.length - this.limit))) this.byNumber.delete(old);
    await Promise.all(added.map((entry) => this.load(entry)));
  }

  // Fill in an entry's hash (if not known) and extrinsic count; a later head that replaced it meanwhile wins.
  async load(entry) {
    const hash = entry.hash ?? (await this.rpc.call("chain_getBlockHash", [entry.number]));
    if (!hash || this.byNumber.get(entry.number) !== entry) return;
    entry.hash = hash;
    const block = await this.rpc.call("explorer_block", [hash]);
    if (block && this.byNumber.get(entry.number) === entry) entry.extrinsics = extrinsicCount(block);
  }

  // The blocks just below `best` that the page has not seen, or whose load failed (the connection went away
  // meanwhile: a validator's failover), on connecting and after a reconnect.
  async backfill(best) {
    for (let number = Math.max(0, best - BACKFILL + 1); number < best; number += 1) {
      let entry = this.byNumber.get(number);
      if (!entry) {
        entry = { number, hash: null, extrinsics: null };
        this.byNumber.set(number, entry);
      }
      if (entry.hash === null || entry.extrinsics === null) await this.load(entry);
    }
  }
}

// A block's extrinsic count; "1000+" where explorer_block listed only its first EXPLORER_MAX_ITEMS.
function extrinsicCount(block) {
  const shown = block.extrinsics.length;
  return block.truncated && shown >= EXPLORER_MAX_ITEMS ? `${shown}+` : shown;
}
