// The data-availability layer: DA nodes, blobs with their attestation, and the confidence the dashboard's
// own light client reached by sampling them (GET /v1/sampling on the dashboard daemon, which checks what a
// browser cannot: KZG proofs against commitments proven by finalized headers).

import { accountLink, badge, balance, bytes, h, short } from "../dom.js";
import { Panel } from "../panel.js";
import { CursorTable, Table } from "../table.js";

export function createDaView(ctx) {
  let sampling = new Map(); // blob id -> the daemon's sampling entry

  const nodes = new Table([
    { title: "node", cell: (n) => accountLink(n.account) },
    { title: "state", cell: (n) => badge(n.state) },
    { title: "stake", class: "num", cell: (n) => balance(n.stake) },
    { title: "BLS key", cell: (n) => short(n.blsKey, 8) },
    { title: "endpoint", cell: (n) => h("span", { class: "mono small" }, n.endpoint) },
  ], { empty: "no DA nodes registered" });

  const blobs = new CursorTable([
    { title: "blob", cell: (b) => short(b.id, 8) },
    { title: "submitter", cell: (b) => accountLink(b.submitter) },
    { title: "ns", class: "num", cell: (b) => b.namespace },
    { title: "length", class: "num", cell: (b) => bytes(b.length) },
    { title: "state", cell: (b) => badge(b.state) },
    { title: "attestation", cell: (b) => attestation(b) },
    { title: "sampled confidence", cell: (b) => confidence(sampling.get(b.id.toLowerCase())) },
    { title: "submitted", class: "num", cell: (b) => `#${b.submitted}` },
  ], (start, limit) => ctx.rpc.call("da_blobs", [start, limit]), { empty: "no blobs yet", rowKey: (b) => b.id });

  const panels = {
    nodes: new Panel("da-nodes", "DA nodes", nodes.element),
    blobs: new Panel("blobs", "Blobs", blobs.element),
  };

  async function loadSampling() {
    const response = await fetch("/v1/sampling");
    if (!response.ok) throw new Error(`the dashboard's sampling: HTTP ${response.status}`);
    const report = await response.json();
    sampling = new Map(report.blobs.map((entry) => [entry.blob, entry]));
  }

  return {
    element: h("div", { class: "stack" }, panels.nodes.element, panels.blobs.element),
    async refresh() {
      await panels.nodes.load(async () => nodes.setRows(await ctx.rpc.call("da_nodes", [])));
      await panels.blobs.load(async () => {
        await loadSampling();
        await blobs.refresh();
      });
    },
  };
}

// Signed stake against the whole, as a bar: a blob is available once more than 2/3 signed.
function attestation(blob) {
  const signed = BigInt(blob.signedStake || "0");
  const total = BigInt(blob.totalStake || "0");
  const share = total > 0n ? Number((signed * 1000n) / total) / 10 : 0;
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${share}%`; // CSSOM, which the page's CSP allows (style attributes it does not)
  return h("span", { class: "attestation" }, h("span", { class: "bar" }, fill), ` ${share}% · ${blob.signers} signer(s)`);
}

function confidence(entry) {
  if (!entry) return h("span", { class: "hint" }, "not followed");
  if (entry.state === "pending") return h("span", { class: "hint" }, "sampling…");
  if (entry.state === "error") return h("span", { class: "bad", title: entry.error || "" }, `could not sample (${entry.attempts}×)`);
  if (!entry.available) {
    return h("span", { class: "bad", title: `cells no custodian served: ${entry.failedCells.join(", ")}` },
      `unavailable: ${entry.failedCells.length} of ${entry.samples} cells missing`);
  }
  return h("span", { class: "good", title: `finalized block ${entry.finalizedBlock}` },
    `${percent(entry.confidence)} (${entry.verified}/${entry.samples} cells verified)`);
}

// A confidence as a percentage to six decimals, trailing zeros dropped ("75%", "99.993896%"); one short of
// certainty that rounds to 100 is never shown as 100.
export function percent(confidence) {
  if (confidence >= 1) return "100%";
  const shown = (100 * confidence).toFixed(6);
  return shown.startsWith("100") ? "> 99.999999%" : `${shown.replace(/\.?0+$/, "")}%`;
}
