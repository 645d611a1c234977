// The compute market: providers, jobs with their verdicts and payments, and the jobs in dispute.

import { accountLink, badge, balance, fileLink, h, short } from "../dom.js";
import { Panel } from "../panel.js";
import { CursorTable, Table } from "../table.js";

const DISPUTE_SCAN = 200; // the newest jobs searched for disputes (a bounded look, not the whole history)

export function createComputeView(ctx) {
  const providers = new Table([
    { title: "provider", cell: (p) => accountLink(p.account) },
    { title: "state", cell: (p) => h("span", {}, badge(p.state), p.leaving ? [" ", badge("leaving")] : []) },
    { title: "jobs", class: "num", cell: (p) => p.activeJobs },
    { title: "hardware", cell: (p) => hardware(p.hardware) },
    { title: "kinds", cell: (p) => p.kinds.join(", ") },
    { title: "stake", class: "num", cell: (p) => balance(p.stake) },
    { title: "reputation", class: "num", cell: (p) => `${(p.reputation / 10).toFixed(1)}%` },
    { title: "disputes lost / no-shows", class: "num", cell: (p) => `${p.disputesLost} / ${p.noShows}` },
    { title: "heartbeat", class: "num", cell: (p) => `#${p.lastHeartbeat}` },
  ], { empty: "no providers registered" });

  const jobColumns = [
    { title: "job", class: "num", cell: (j) => j.id },
    { title: "kind", cell: (j) => j.kind },
    { title: "submitter", cell: (j) => accountLink(j.submitter) },
    { title: "inputs", cell: (j) => files(j.inputs) },
    { title: "state", cell: (j) => h("span", {}, badge(j.state), j.phase && j.phase !== j.state ? ` ${j.phase}` : "") },
    { title: "providers", cell: (j) => h("span", {}, j.providers.map((p) => h("div", { class: "small" }, accountLink(p.account, 4), " ", badge(p.state)))) },
    { title: "verdict", cell: (j) => (j.verdict ? h("span", { class: "verdict", "data-verdict": j.verdict }, short(j.verdict, 8), j.refused ? [" ", badge("refused"), " ", h("span", { class: "small" }, j.refused)] : []) : "–") },
    { title: "outputs", cell: (j) => files(j.outputs) },
    { title: "escrow / paid / refunded", class: "num", cell: (j) => h("span", { class: "small" }, `${balance(j.escrow)} / ${balance(j.paid)} / ${balance(j.refunded)}`) },
  ];
  const jobs = new CursorTable(jobColumns, (start, limit) => ctx.rpc.call("compute_jobs", [start, limit]),
    { empty: "no jobs yet", rowKey: (j) => String(j.id) });
  const disputes = new Table(jobColumns, { empty: "no disputes among the newest jobs", rowKey: (j) => `dispute-${j.id}` });

  const panels = {
    providers: new Panel("providers", "Providers", providers.element),
    jobs: new Panel("jobs", "Jobs", jobs.element),
    disputes: new Panel("disputes", `Disputes (newest ${DISPUTE_SCAN} jobs)`, disputes.element),
  };

  return {
    element: h("div", { class: "stack" }, panels.providers.element, panels.jobs.element, panels.disputes.element),
    async refresh() {
      await panels.providers.load(async () => providers.setRows(await ctx.rpc.call("compute_providers", [])));
      await panels.jobs.load(() => jobs.refresh());
      await panels.disputes.load(async () => {
        const newest = await ctx.rpc.call("compute_jobs", [null, DISPUTE_SCAN]);
        disputes.setRows(newest.items.filter((job) => job.dispute));
      });
    },
  };
}

function hardware(spec) {
  const gpu = spec.gpu ? ` · ${spec.gpu.model} ${spec.gpu.memoryMib} MiB` : "";
  return `${spec.cpuCores} cores · ${spec.memoryMib} MiB${gpu}`;
}

function files(ids) {
  return ids.length ? h("span", { class: "files" }, ids.map((id) => h("div", {}, fileLink(id)))) : "–";
}
