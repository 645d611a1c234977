// Tables that stay usable with hundreds of rows: only one page is ever in the DOM.
//
// `Table` pages rows the page already holds (a bounded list: blocks, nodes); `CursorTable` pages a list the
// node pages itself (`{items, next}` from storage_files, da_blobs, compute_jobs, ...), keeping the cursor of
// every page it has seen so that "previous" needs no cursor from the node.

import { h, show } from "./dom.js";

export const PAGE_SIZE = 20;

// columns: [{title, cell: (row) => Node|string, class?}]; onRow(row) makes rows clickable.
export class Table {
  constructor(columns, { pageSize = PAGE_SIZE, empty = "none yet", onRow = null, rowKey = null } = {}) {
    this.columns = columns;
    this.pageSize = pageSize;
    this.empty = empty;
    this.onRow = onRow;
    this.rowKey = rowKey; // marks the selected row across re-renders
    this.selected = null;
    this.rows = [];
    this.page = 0;
    this.element = h("div", { class: "table-wrap" });
  }

  setRows(rows) {
    this.rows = rows;
    this.page = Math.min(this.page, Math.max(0, Math.ceil(rows.length / this.pageSize) - 1));
    this.render(rows.slice(this.page * this.pageSize, (this.page + 1) * this.pageSize), {
      label: `${this.page + 1} / ${Math.max(1, Math.ceil(rows.length / this.pageSize))}`,
      prev: this.page > 0 ? () => this.turn(-1) : null,
      next: (this.page + 1) * this.pageSize < rows.length ? () => this.turn(1) : null,
    });
  }

  turn(step) {
    this.page += step;
    this.setRows(this.rows);
  }

  // Draw `rows` with a pager (prev/next are null when there is no such page).
  render(rows, { label, prev, next }) {
    const head = h("tr", {}, this.columns.map((column) => h("th", { class: column.class }, column.title)));
    const body = rows.length
      ? rows.map((row) => this.row(row))
      : [h("tr", {}, h("td", { class: "empty", colspan: this.columns.length }, this.empty))];
    const pager = prev || next
      ? h("div", { class: "pager" },
          h("button", { type: "button", disabled: !prev, onclick: prev }, "‹ prev"),
          h("span", {}, `page ${label}`),
          h("button", { type: "button", disabled: !next, onclick: next }, "next ›"))
      : null;
    show(this.element, h("table", {}, h("thead", {}, head), h("tbody", {}, body)), pager);
  }

  row(row) {
    const key = this.rowKey ? this.rowKey(row) : null;
    const attrs = {
      "data-key": key,
      class: [this.onRow ? "clickable" : "", key !== null && key === this.selected ? "selected" : ""].join(" ").trim() || null,
      onclick: this.onRow
        ? (event) => {
            if (event.target.closest("a")) return; // a link in the row goes where it says
            this.selected = key;
            this.onRow(row);
          }
        : null,
    };
    return h("tr", attrs, this.columns.map((column) => h("td", { class: column.class }, column.cell(row))));
  }
}

// A table over a node-paged list: load(start, limit) -> {items, next}.
export class CursorTable extends Table {
  constructor(columns, load, options = {}) {
    super(columns, options);
    this.load = load;
    this.cursors = [null]; // cursors[i]: the `start` of page i (null: the first)
    this.next = null;
  }

  // Load the current page again (the chain moved on).
  async refresh() {
    const result = await this.load(this.cursors[this.page], this.pageSize);
    this.next = result.next ?? null;
    this.rows = result.items;
    this.render(result.items, {
      label: `${this.page + 1}`,
      prev: this.page > 0 ? () => this.turn(-1) : null,
      next: this.next !== null ? () => this.turn(1) : null,
    });
    return result.items;
  }

  turn(step) {
    if (step > 0) this.cursors[this.page + 1] = this.next;
    this.page += step;
    // Errors surface on the next refresh of the view; a click has no one else to tell.
    this.refresh().catch(() => {});
  }
}
