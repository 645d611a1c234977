// An account: its balance, and what holds its reserved part (a storage deposit, a node's or provider's stake, a
// job's escrow, a federated task's funds), by `explorer_account`. Reached by `#account/<address>`, which every
// account in the other views links to, or by entering an address; it follows the finalized heads.

import { balance, h, show } from "../dom.js";
import { Panel } from "../panel.js";
import { Table } from "../table.js";

// An SS58 address (base58: no 0, O, I or l) or a 0x account id: anything else is not sent to the node.
const ACCOUNT = /^(0x[0-9a-fA-F]{64}|[1-9A-HJ-NP-Za-km-z]{40,60})$/;

export function createAccountView(ctx) {
  let account = null;
  const input = h("input", { type: "text", placeholder: "SS58 address or 0x account id", spellcheck: "false",
                             class: "mono", size: 60 });
  const form = h("form", { class: "lookup-form" }, input, h("button", { type: "submit" }, "Show account"));
  const error = h("p", { class: "note", hidden: true });
  const summary = h("div", {}, h("p", { class: "hint" }, "Enter an address, or click an account in any table."));
  const holds = new Table([
    { title: "held by", cell: (hold) => hold.pallet },
    { title: "reason", cell: (hold) => hold.reason },
    { title: "amount", class: "num", cell: (hold) => balance(hold.amount) },
  ], { empty: "nothing held" });
  const panel = new Panel("account", "Account", form, error, summary, h("h3", {}, "Holds"), holds.element);

  // Whether `value` names an account; if not, says so instead of asking the node.
  function valid(value) {
    error.hidden = ACCOUNT.test(value);
    if (!error.hidden) show(error, `${value}: an account is an SS58 address or 0x followed by 64 hex digits`);
    return error.hidden;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (valid(value)) location.hash = `#account/${value}`; // the router calls route() with it
  });

  async function load() {
    const wanted = account;
    if (wanted === null) return;
    await panel.load(async () => {
      const found = await ctx.rpc.call("explorer_account", [wanted]);
      if (wanted !== account) return; // another account was asked for meanwhile: its load shows it
      show(summary, facts(found));
      holds.setRows(found.holds);
    });
  }

  return {
    element: panel.element,
    // `#account/<address>`: the account to show.
    async route(arg) {
      let value = arg;
      try {
        value = arg && decodeURIComponent(arg);
      } catch {
        // a malformed escape (`#account/%`): kept as it is, which no address matches
      }
      if (!value || value === account || !valid(value)) return;
      account = value;
      input.value = value;
      show(summary, h("p", { class: "hint" }, "loading…"));
      holds.setRows([]); // not the previous account's holds under this one's address
      await load();
    },
    refresh: load, // fees, deposits and stakes move as blocks finalize
  };
}

function facts(found) {
  const held = found.holds.reduce((sum, hold) => sum + BigInt(hold.amount), 0n);
  const otherwise = BigInt(found.reserved) - held;
  return h("dl", { class: "facts" },
    h("dt", {}, "account"), h("dd", { class: "mono" }, found.account),
    h("dt", {}, "free"), h("dd", { "data-field": "free" }, balance(found.free)),
    h("dt", {}, "reserved"), h("dd", { "data-field": "reserved" }, balance(found.reserved),
      otherwise > 0n ? ` (${balance(otherwise.toString())} not by a hold)` : ""),
    h("dt", {}, "frozen"), h("dd", {}, balance(found.frozen)),
    h("dt", {}, "nonce"), h("dd", {}, found.nonce),
    h("dt", {}, "existential deposit"), h("dd", {}, balance(found.existentialDeposit)));
}
