// The dashboard's entry point: connect to the validators the daemon names, follow the chain's heads, and
// show one view at a time by hash route (#chain, #storage, #da, #compute, #fl, #lineage/<file id>,
// #account/<address>).
//
// Heights and the block list follow every new head; the visible view's tables reload on finalized heads
// only, throttled (layer state worth showing changes when blocks finalize, and a reload is several calls).

import { BlockLog } from "./js/blocks.js";
import { h, setToken, show } from "./js/dom.js";
import { RpcClient } from "./js/rpc.js";
import { Throttle } from "./js/throttle.js";
import { createAccountView } from "./js/views/account.js";
import { createChainView } from "./js/views/chain.js";
import { createComputeView } from "./js/views/compute.js";
import { createDaView } from "./js/views/da.js";
import { createFlView } from "./js/views/fl.js";
import { createLineageView } from "./js/views/lineage.js";
import { createStorageView } from "./js/views/storage.js";

const REFRESH_GAP_MS = 3000;

const VIEWS = {
  chain: { title: "Chain", create: createChainView },
  storage: { title: "Storage", create: createStorageView },
  da: { title: "Data availability", create: createDaView },
  compute: { title: "Compute", create: createComputeView },
  fl: { title: "Federated", create: createFlView },
  lineage: { title: "Lineage", create: createLineageView },
  account: { title: "Account", create: createAccountView },
};

const ctx = { rpc: null, blocks: null, heads: { best: null, finalized: null } };
const views = new Map(); // name -> view, created on first visit and kept (a table keeps its page)
let current = null;

// Header numbers arrive as hex strings ("0x1a"), as Substrate sends them.
function blockNumber(number) {
  return typeof number === "string" ? parseInt(number, 16) : number;
}

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

function onNewHead(head) {
  const number = blockNumber(head.number);
  ctx.heads.best = number;
  setText("best", `#${number}`);
  // a block that failed to load shows on the next head
  ctx.blocks.add(number, head.parentHash).then(() => current?.view.onNewHead?.(), () => {});
}

function onFinalizedHead(head) {
  ctx.heads.finalized = blockNumber(head.number);
  setText("finalized", `#${ctx.heads.finalized}`);
  refresher.request();
}

function onConnection({ connected, url }) {
  const status = document.getElementById("connection");
  status.className = connected ? "connection up" : "connection down";
  status.textContent = connected ? `connected to ${url}` : `${url} went away: trying the next validator…`;
  if (connected) onConnected().catch(() => {}); // the next connection tries again
}

// Once per connection: token format for balances, the blocks the page missed, a fresh view.
async function onConnected() {
  const properties = await ctx.rpc.call("system_properties", []);
  setToken(properties.tokenDecimals, properties.tokenSymbol);
  const best = await ctx.rpc.call("chain_getHeader", []);
  await ctx.blocks.backfill(blockNumber(best.number));
  current?.view.onNewHead?.();
  refresher.request();
}

const refresher = new Throttle(async () => {
  if (current && ctx.rpc.connected) await current.view.refresh();
}, REFRESH_GAP_MS);

// Show the view the hash names (unknown or empty: the chain).
async function route() {
  const [name, arg] = location.hash.replace(/^#/, "").split("/", 2);
  const chosen = VIEWS[name] ? name : "chain";
  if (!views.has(chosen)) views.set(chosen, VIEWS[chosen].create(ctx));
  const view = views.get(chosen);
  if (current?.name !== chosen) {
    current = { name: chosen, view };
    show(document.getElementById("view"), view.element);
    for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === chosen);
    document.title = `${VIEWS[chosen].title} · Cairn devnet`;
    refresher.request();
  }
  if (view.route) await view.route(arg);
}

function navigation() {
  return Object.entries(VIEWS).map(([name, { title }]) => h("a", { href: `#${name}`, "data-view": name }, title));
}

async function main() {
  show(document.querySelector("nav"), navigation());
  const response = await fetch("/v1/config");
  const config = await response.json();
  ctx.rpc = new RpcClient(config.rpc, onConnection);
  ctx.blocks = new BlockLog(ctx.rpc);
  ctx.rpc.subscribe("chain_subscribeNewHeads", [], onNewHead);
  ctx.rpc.subscribe("chain_subscribeFinalizedHeads", [], onFinalizedHead);
  window.addEventListener("hashchange", () => route().catch(showFailure));
  await route().catch(showFailure); // a view that fails on its link must not keep the page from connecting
  ctx.rpc.start();
}

function showFailure(error) {
  const status = document.getElementById("connection");
  status.className = "connection down";
  status.textContent = `dashboard error: ${error.message || error}`;
}

main().catch(showFailure);
