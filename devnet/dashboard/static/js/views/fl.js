// Federated learning: tasks, and a task's rounds with their contributors, scores, rewards and slashes.

import { accountLink, badge, balance, fileLink, h, show } from "../dom.js";
import { Panel } from "../panel.js";
import { CursorTable, Table } from "../table.js";

export function createFlView(ctx) {
  let opened = null; // the task whose rounds are shown, reloaded with each refresh

  const tasks = new CursorTable([
    { title: "task", class: "num", cell: (t) => t.id },
    { title: "owner", cell: (t) => accountLink(t.owner) },
    { title: "base model", cell: (t) => fileLink(t.base) },
    { title: "round", class: "num", cell: (t) => `${t.round + 1} of ${t.rounds}` }, // rounds are numbered from 0
    { title: "state", cell: (t) => badge(t.state) },
    { title: "participants", class: "num", cell: (t) => t.participants },
    { title: "reward pool", class: "num", cell: (t) => balance(t.rewardPool) },
  ], (start, limit) => ctx.rpc.call("compute_flTasks", [start, limit]),
  { empty: "no federated tasks yet", onRow: (t) => openTask(t.id), rowKey: (t) => String(t.id) });

  const rounds = h("div", {}, h("p", { class: "hint" }, "Click a task to see its rounds."));
  const panels = { tasks: new Panel("fl-tasks", "Federated tasks", tasks.element), rounds: new Panel("rounds", "Rounds", rounds) };

  async function openTask(id) {
    opened = id;
    await panels.rounds.load(async () => {
      const task = await ctx.rpc.call("compute_flTask", [id]);
      show(rounds, task ? renderRounds(task) : h("p", { class: "hint" }, `task ${id} is gone`));
    });
  }

  return {
    element: h("div", { class: "stack" }, panels.tasks.element, panels.rounds.element),
    async refresh() {
      await panels.tasks.load(() => tasks.refresh());
      if (opened !== null) await openTask(opened);
    },
  };
}

function renderRounds(task) {
  return [h("h3", {}, `Task ${task.id}`), ...task.roundsDetail.map((round) => {
    const contributors = new Table([
      { title: "contributor", cell: (c) => accountLink(c.account) },
      { title: "update", cell: (c) => fileLink(c.update) },
      { title: "score", class: "num", cell: (c) => c.score ?? "–" },
      { title: "reward", class: "num", cell: (c) => balance(c.reward) },
      { title: "", cell: (c) => (c.slashed ? badge("slashed") : "") },
    ], { empty: "no contributions" });
    contributors.setRows(round.contributors);
    return h("div", { class: "round" },
      h("h4", {}, `Round ${round.round + 1} `, badge(round.state), round.job !== null ? ` · aggregation job ${round.job}` : "",
        " · model ", fileLink(round.model)),
      contributors.element);
  })];
}
