// A titled section of a view that loads its own data and says, in place of a console error, why it could
// not: a node without a layer's RPC methods still shows every other section.

import { h, show } from "./dom.js";

export class Panel {
  // `name` marks the section (data-panel) for tests and styles; `title` is its heading.
  constructor(name, title, ...content) {
    this.note = h("p", { class: "note", hidden: true });
    this.body = h("div", { class: "panel-body" }, content);
    this.element = h("section", { class: "panel", "data-panel": name }, h("h2", {}, title), this.note, this.body);
  }

  // Run `load`; on failure show why (and keep what was shown before: stale beats blank).
  async load(load) {
    try {
      await load();
      this.note.hidden = true;
    } catch (error) {
      this.note.hidden = false;
      show(this.note, explain(error));
    }
  }
}

function explain(error) {
  if (error && error.notServed) return `${error.message.split(":")[0]}: not served by this node`;
  return error && error.message ? error.message : String(error);
}
