// The storage network: nodes (capacity, stake, audits), files and their health, repairs in progress.

import { accountLink, badge, balance, bytes, fileLink, h } from "../dom.js";
import { Panel } from "../panel.js";
import { CursorTable, Table } from "../table.js";

export function createStorageView(ctx) {
  const nodes = new Table([
    { title: "node", cell: (n) => accountLink(n.account) },
    { title: "state", cell: (n) => badge(n.state) },
    { title: "used / capacity", class: "num", cell: (n) => `${bytes(n.used)} / ${bytes(n.capacity)}` },
    { title: "stake", class: "num", cell: (n) => balance(n.stake) },
    { title: "fragments", class: "num", cell: (n) => n.fragments },
    { title: "audits passed / missed", class: "num", cell: (n) => auditCell(n.audits) },
    { title: "repairs done / owed", class: "num", cell: (n) => `${n.repairs.done} / ${n.repairs.owed}` },
    { title: "endpoint", cell: (n) => h("span", { class: "mono small" }, n.endpoint) },
  ], { empty: "no storage nodes registered" });

  const files = new CursorTable([
    { title: "file (click for lineage)", cell: (f) => fileLink(f.id) },
    { title: "owner", cell: (f) => accountLink(f.owner) },
    { title: "size", class: "num", cell: (f) => bytes(f.size) },
    { title: "code", cell: (f) => `RS(${f.k}, ${f.m}) × ${f.segments}` },
    { title: "access", cell: (f) => (f.private ? "private" : "public") },
    { title: "health", cell: (f) => h("span", {}, badge(f.state), " ", `${f.fragments.healthy}/${f.fragments.total} fragments`) },
    { title: "declared", class: "num", cell: (f) => `#${f.declared}` },
  ], (start, limit) => ctx.rpc.call("storage_files", [start, limit]), { empty: "no files yet", rowKey: (f) => f.id });

  const repairs = new Table([
    { title: "file", cell: (r) => fileLink(r.file) },
    { title: "segment / fragment", class: "num", cell: (r) => `${r.segment} / ${r.fragment}` },
    { title: "assignee", cell: (r) => accountLink(r.assignee) },
    { title: "deadline", class: "num", cell: (r) => `#${r.deadline}` },
    { title: "reason", cell: (r) => r.reason },
  ], { empty: "no repairs in progress" });

  const panels = {
    nodes: new Panel("storage-nodes", "Storage nodes", nodes.element),
    files: new Panel("files", "Files", files.element),
    repairs: new Panel("repairs", "Repairs in progress", repairs.element),
  };

  return {
    element: h("div", { class: "stack" }, panels.nodes.element, panels.files.element, panels.repairs.element),
    async refresh() {
      await panels.nodes.load(async () => nodes.setRows(await ctx.rpc.call("storage_nodes", [])));
      await panels.files.load(() => files.refresh());
      await panels.repairs.load(async () => repairs.setRows(await ctx.rpc.call("storage_repairs", [])));
    },
  };
}

function auditCell(audits) {
  return h("span", {}, h("span", { class: "good" }, audits.passed), " / ", h("span", { class: audits.missed ? "bad" : "" }, audits.missed));
}
