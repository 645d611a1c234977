// The recent blocks the chain view lists, kept bounded: the newest LIMIT by number, whatever the chain's
// length, so a devnet that ran for hours costs the page no more than one that just started.

export const LIMIT = 100;
const BACKFILL = 20; // blocks loaded when the page connects, before live heads fill the list

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

  // A new best head: record its block (a re-org's head replaces the block of the same number).
  async add(number) {
    const hash = await this.rpc.call("chain_getBlockHash", [number]);
    if (!hash) return;
    const block = await this.rpc.call("chain_getBlock", [hash]);
    this.byNumber.set(number, { number, hash, extrinsics: block ? block.block.extrinsics.length : null });
    const numbers = [...this.byNumber.keys()].sort((a, b) => a - b);
    for (const old of numbers.slice(0, Math.max(0, numbers.length - this.limit))) this.byNumber.delete(old);
  }

  // The blocks just below `best` that the page has not seen (on connecting, and after a reconnect).
  async backfill(best) {
    for (let number = Math.max(0, best - BACKFILL + 1); number < best; number += 1) {
      if (!this.byNumber.has(number)) await this.add(number);
    }
  }
}
