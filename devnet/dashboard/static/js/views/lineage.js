// A model's lineage as a picture: the graph `compute_lineage` walks back from a file (the jobs that made it,
// their inputs, parent models, federated rounds and their contributors), laid out in columns by distance
// from the file, the file on the right and its origins to the left. Clicking a file node walks back from
// that file instead (the node bounds each walk's depth, so far origins need a click to reach).

import { h, s, show } from "../dom.js";
import { Panel } from "../panel.js";

const NODE_W = 190;
const NODE_H = 44;
const COLUMN_GAP = 80;
const ROW_GAP = 18;
const MARGIN = 20;
const FILE_ID = /^0x[0-9a-fA-F]{64}$/;

export function createLineageView(ctx) {
  let fileId = null;
  const input = h("input", { type: "text", placeholder: "0x… file id", spellcheck: "false", class: "mono", size: 70 });
  const form = h("form", { class: "lookup-form" }, input, h("button", { type: "submit" }, "Show lineage"));
  const error = h("p", { class: "note", hidden: true });
  const picture = h("div", { class: "lineage" }, h("p", { class: "hint" },
    "Enter a file id, or click one in the files, jobs or rounds tables."));
  const panel = new Panel("lineage", "Lineage", form, error, picture);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!FILE_ID.test(value)) {
      error.hidden = false;
      show(error, "a file id is 0x followed by 64 hex digits");
      return;
    }
    error.hidden = true;
    location.hash = `#lineage/${value.toLowerCase()}`; // the router calls route() with it
  });

  async function draw() {
    if (fileId === null) return;
    await panel.load(async () => {
      const graph = await ctx.rpc.call("compute_lineage", [fileId]);
      show(picture, render(graph));
    });
  }

  return {
    element: panel.element,
    // `#lineage/<file id>`: the file to walk back from.
    async route(arg) {
      if (arg && FILE_ID.test(arg) && arg.toLowerCase() !== fileId) {
        fileId = arg.toLowerCase();
        input.value = fileId;
        show(picture, h("p", { class: "hint" }, "loading…"));
        await draw();
      }
    },
    refresh: draw, // a job still running adds its outputs and verdict as the chain moves on
  };
}

// The file id a node stands for (a file node's id is the file id; jobs, rounds and tasks are "job:N", ...).
function fileOf(node) {
  return node.type === "file" ? node.id : null;
}

// Columns by hops from the root (edges followed either way), nodes in order of appearance in each.
function layout(graph) {
  const neighbours = new Map(graph.nodes.map((node) => [node.id, []]));
  for (const edge of graph.edges) {
    neighbours.get(edge.from)?.push(edge.to);
    neighbours.get(edge.to)?.push(edge.from);
  }
  const root = graph.nodes.find((node) => node.id === graph.root) ?? graph.nodes[0];
  const depth = new Map([[root.id, 0]]);
  const queue = [root.id];
  while (queue.length) {
    const id = queue.shift();
    for (const next of neighbours.get(id) ?? []) {
      if (!depth.has(next)) {
        depth.set(next, depth.get(id) + 1);
        queue.push(next);
      }
    }
  }
  const deepest = Math.max(0, ...depth.values());
  const columns = [];
  const at = new Map();
  for (const node of graph.nodes) {
    const column = deepest - (depth.get(node.id) ?? deepest); // unconnected nodes go leftmost
    columns[column] = (columns[column] ?? 0) + 1;
    at.set(node.id, { x: MARGIN + column * (NODE_W + COLUMN_GAP), y: MARGIN + (columns[column] - 1) * (NODE_H + ROW_GAP) });
  }
  const rows = Math.max(1, ...columns.filter(Boolean));
  return { root, at, width: 2 * MARGIN + (deepest + 1) * (NODE_W + COLUMN_GAP) - COLUMN_GAP,
    height: 2 * MARGIN + rows * (NODE_H + ROW_GAP) - ROW_GAP };
}

function render(graph) {
  if (!graph || !graph.nodes || graph.nodes.length === 0) return h("p", { class: "hint" }, "no lineage");
  const { root, at, width, height } = layout(graph);
  const svg = s("svg", { class: "lineage-graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `lineage of ${graph.root}` },
  s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head" }))));
  for (const edge of graph.edges) {
    const from = at.get(edge.from);
    const to = at.get(edge.to);
    if (from && to) svg.append(edgePath(from, to, edge.label));
  }
  for (const node of graph.nodes) svg.append(nodeBox(node, at.get(node.id), node === root));
  const legend = h("p", { class: "hint" }, graph.edges.length === 0
    ? "no verified job or federated round made this file, so it has no lineage before it (an upload, or an id the chain does not know)"
    : `${graph.nodes.length} nodes, ${graph.edges.length} edges · click a file to walk back from it`);
  return [legend, h("div", { class: "lineage-scroll" }, svg)];
}

// A curve from one box's side to the facing side of the other, arrow at `to`.
function edgePath(from, to, label) {
  const forward = from.x <= to.x;
  const x1 = forward ? from.x + NODE_W : from.x;
  const x2 = forward ? to.x : to.x + NODE_W;
  const y1 = from.y + NODE_H / 2;
  const y2 = to.y + NODE_H / 2;
  const bend = Math.max(30, Math.abs(x2 - x1) / 2) * (forward ? 1 : -1);
  return s("g", { class: "edge" },
    s("path", { d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)" }),
    label ? s("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" }, label) : null);
}

function nodeBox(node, where, isRoot) {
  const file = fileOf(node);
  const label = String(node.label ?? node.id);
  // A file is named by its role in the walk (dataset, model, update) over its id; others by their label.
  const kind = file && label !== "file" ? `file · ${label}` : node.type;
  const text = file ? `${file.slice(0, 10)}…${file.slice(-6)}` : label;
  const group = s("g", {
    class: `node node-${node.type}${isRoot ? " root" : ""}${file ? " clickable" : ""}`,
    transform: `translate(${where.x} ${where.y})`, "data-id": node.id,
  },
  s("title", {}, [kind, file ?? label, JSON.stringify(node.detail ?? {})].join("\n")),
  s("rect", { width: NODE_W, height: NODE_H, rx: node.type === "file" ? 3 : 12 }),
  s("text", { x: 10, y: 17, class: "node-type" }, kind),
  s("text", { x: 10, y: 34, class: "node-label" }, text.length > 26 ? `${text.slice(0, 25)}…` : text));
  if (file) group.addEventListener("click", () => { location.hash = `#lineage/${file}`; });
  return group;
}
