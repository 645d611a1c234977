// The chain: recent blocks (live from new heads), one block's extrinsics and events, the validators.

import { accountLink, badge, brief, h, short, show } from "../dom.js";
import { Panel } from "../panel.js";
import { Table } from "../table.js";

export function createChainView(ctx) {
  const blocks = new Table(
    [
      { title: "#", class: "num", cell: (b) => b.number },
      { title: "hash", cell: (b) => short(b.hash, 10) },
      { title: "extrinsics", class: "num", cell: (b) => b.extrinsics ?? "–" },
      { title: "", cell: (b) => (ctx.heads.finalized !== null && b.number <= ctx.heads.finalized ? badge("finalized") : badge("best chain")) },
    ],
    // a block whose hash is still being asked for has nothing to open yet
    { empty: "waiting for blocks", onRow: (b) => b.hash && openBlock(b.hash), rowKey: (b) => b.hash },
  );
  const detail = h("div", { class: "block-detail" }, h("p", { class: "hint" }, "Click a block to see its extrinsics and events."));
  const validators = new Table([
    { title: "account", cell: (v) => accountLink(v.account, 8) },
    { title: "aura key", cell: (v) => short(v.aura, 8) },
    { title: "grandpa key", cell: (v) => short(v.grandpa, 8) },
  ]);

  const blocksPanel = new Panel("blocks", "Recent blocks", blocks.element);
  const detailPanel = new Panel("block", "Block", detail);
  const validatorsPanel = new Panel("validators", "Validators", validators.element);

  async function openBlock(hash) {
    blocks.setRows(ctx.blocks.list()); // show the selection
    await detailPanel.load(async () => {
      const block = await ctx.rpc.call("explorer_block", [hash]);
      show(detail, block ? renderBlock(block) : h("p", { class: "hint" }, `block ${hash} is no longer known`));
    });
  }

  return {
    element: h("div", { class: "view-grid" }, blocksPanel.element, h("div", { class: "stack" }, detailPanel.element, validatorsPanel.element)),
    onNewHead() {
      blocks.setRows(ctx.blocks.list());
    },
    async refresh() {
      blocks.setRows(ctx.blocks.list());
      await validatorsPanel.load(async () => validators.setRows(await ctx.rpc.call("explorer_validators", [])));
    },
  };
}

// An extrinsic's outcome: the node sends success null when it could not tell (its events were not found).
export function outcome(x) {
  if (x.success === true) return badge("ok");
  const state = x.success === false ? "failed" : "unknown";
  return x.error ? h("span", {}, badge(state), " ", x.error) : badge(state);
}

function renderBlock(block) {
  const extrinsics = new Table(
    [
      { title: "#", class: "num", cell: (x) => x.index },
      { title: "call", cell: (x) => `${x.pallet}.${x.call}` },
      { title: "signer", cell: (x) => (x.signer ? accountLink(x.signer) : "unsigned") },
      { title: "result", cell: outcome },
      { title: "arguments", cell: (x) => h("span", { class: "mono small" }, brief(x.args, 120)) },
    ],
    { empty: "no extrinsics", pageSize: 10 },
  );
  const events = new Table(
    [
      { title: "#", class: "num", cell: (e) => e.index },
      { title: "phase", cell: (e) => e.phase },
      { title: "event", cell: (e) => `${e.pallet}.${e.name}` },
      { title: "fields", cell: (e) => h("span", { class: "mono small" }, brief(e.fields, 120)) },
    ],
    { empty: "no events", pageSize: 10 },
  );
  extrinsics.setRows(block.extrinsics);
  events.setRows(block.events);
  return [
    h("dl", { class: "facts" },
      h("dt", {}, "number"), h("dd", {}, block.number),
      h("dt", {}, "hash"), h("dd", { class: "mono" }, block.hash),
      h("dt", {}, "parent"), h("dd", { class: "mono" }, block.parentHash),
      h("dt", {}, "author"), h("dd", {}, block.author ? accountLink(block.author, 10) : "–")),
    h("h3", {}, `Extrinsics (${block.extrinsics.length})`), extrinsics.element,
    h("h3", {}, `Events (${block.events.length})`), events.element,
  ];
}
