// Building the page from data without innerHTML: every value from the chain goes in as text (a file name or
// an extrinsic argument can hold anything, and must never become markup), and the page's CSP forbids inline
// styles, so looks come from classes in style.css only.

const SVG_NS = "http://www.w3.org/2000/svg";

// h("td", {class: "num", title: full}, "text", childNode, ...): an element with attributes and children;
// `on*` attributes that are functions become event listeners, null/false children are skipped.
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// The same for SVG elements (the lineage graph), which need their namespace.
export function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Replace what `element` shows.
export function show(element, ...children) {
  element.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined));
}

// A long id (hash, account, file id) cut to its ends, the whole of it in the tooltip.
export function short(value, keep = 6) {
  if (value === null || value === undefined) return "–";
  const text = String(value);
  if (text.length <= 2 * keep + 3) return h("span", { class: "mono" }, text);
  return h("span", { class: "mono", title: text }, `${text.slice(0, keep + (text.startsWith("0x") ? 2 : 0))}…${text.slice(-keep)}`);
}

// A link to an account's balance and holds: every table's account leads there.
export function accountLink(account, keep = 6) {
  if (!account) return "–";
  return h("a", { href: `#account/${account}`, class: "account-link", "data-account": account }, short(account, keep));
}

// A link to a file's lineage: the files, jobs and rounds tables all lead there.
export function fileLink(fileId) {
  if (!fileId) return "–";
  return h("a", { href: `#lineage/${fileId}`, class: "file-link", "data-file": fileId }, short(fileId));
}

// A coloured label for an enum-like state ("active", "degraded", "verified", ...).
export function badge(state) {
  const text = state === null || state === undefined ? "–" : String(state);
  return h("span", { class: `badge state-${text.toLowerCase().replace(/[^a-z0-9]+/g, "-")}` }, text);
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function bytes(count) {
  if (count === null || count === undefined) return "–";
  let value = Number(count);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

// Token amounts arrive as decimal strings (they exceed 2**53): divided with BigInt, never through a float.
const token = { decimals: 12, symbol: "UNIT" };

export function setToken(decimals, symbol) {
  if (Number.isInteger(decimals) && decimals >= 0) token.decimals = decimals;
  if (typeof symbol === "string" && symbol) token.symbol = symbol;
}

export function balance(amount) {
  if (amount === null || amount === undefined || !/^\d+$/.test(String(amount))) return "–";
  const base = 10n ** BigInt(token.decimals);
  const value = BigInt(amount);
  const fraction = (value % base).toString().padStart(token.decimals, "0").slice(0, 4).replace(/0+$/, "");
  return `${(value / base).toLocaleString("en")}${fraction ? "." + fraction : ""} ${token.symbol}`;
}

// A JSON value (an extrinsic argument, an event field) as one short line.
export function brief(value, limit = 80) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
