// A JSON-RPC 2.0 client over WebSocket that survives a validator going away.
//
// The devnet's faults kill validators, and a dashboard that goes blank when the one it talks to dies is
// useless exactly when it matters. So the client holds the list of every validator's URL: when its socket
// closes it fails the calls in flight (their callers show an error and retry on the next refresh), waits a
// moment, and connects to the next URL, where it subscribes again to everything it was subscribed to.
//
// A validator that is stopped rather than killed (SIGSTOP) keeps the socket open and answers nothing, so its
// socket never closes on its own. The client gives up on it as if it had: when the handshake does not finish
// in time, when calls time out STALL_TIMEOUTS times in a row, or when the node, which sends a new head every
// block to a subscriber, sends nothing for SILENCE_MS.

const CALL_TIMEOUT_MS = 20000;
const CONNECT_TIMEOUT_MS = 10000;
const STALL_TIMEOUTS = 2;
const SILENCE_MS = 20000; // ten blocks of the devnet's 2-second slots
const WATCH_MS = 1000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;

// A JSON-RPC error object the node answered, kept typed so a view can tell "method not served" (-32601)
// from a failure.
export class RpcError extends Error {
  constructor(method, error) {
    super(`${method}: ${error.message}`);
    this.code = error.code;
  }

  get notServed() {
    return this.code === -32601;
  }
}

export class RpcClient {
  // onState({connected, url}) hears every connect and disconnect.
  constructor(urls, onState = () => {}) {
    this.urls = urls;
    this.onState = onState;
    this.index = 0;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map(); // request id -> {resolve, reject, timer, method}
    this.subscriptions = new Set(); // {method, params, onItem, id}: re-opened on every connection
    this.bySubscriptionId = new Map();
    this.retryMs = RETRY_MIN_MS;
    this.timeouts = 0; // calls timed out in a row on this connection
    this.heardAt = 0; // when this connection last received anything (or opened)
  }

  start() {
    this.connect();
    setInterval(() => this.watch(), WATCH_MS);
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    const url = this.urls[this.index % this.urls.length];
    const socket = new WebSocket(url);
    this.socket = socket;
    this.heardAt = Date.now();
    socket.addEventListener("open", () => {
      this.retryMs = RETRY_MIN_MS;
      this.timeouts = 0;
      this.heardAt = Date.now();
      this.onState({ connected: true, url });
      for (const subscription of this.subscriptions) this.open(subscription);
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    // "error" is always followed by "close"; handling it too would double the reconnect.
    socket.addEventListener("close", () => this.closed(socket, url));
  }

  // Once a second: leave a node that stalled (see the top of this file).
  watch() {
    const socket = this.socket;
    if (socket === null) return;
    const quiet = Date.now() - this.heardAt;
    if (socket.readyState === WebSocket.CONNECTING && quiet > CONNECT_TIMEOUT_MS) this.abandon(socket, "no handshake");
    else if (this.timeouts >= STALL_TIMEOUTS) this.abandon(socket, `${this.timeouts} calls timed out`);
    else if (this.connected && this.subscriptions.size > 0 && quiet > SILENCE_MS) this.abandon(socket, "no head");
  }

  // Close a stalled node's socket and move on now: its close handshake would never finish, so the close
  // event cannot be waited for (closed() ignores it when it comes).
  abandon(socket, why) {
    const url = this.urls[this.index % this.urls.length];
    console.warn(`leaving ${url}: ${why}`);
    socket.close();
    this.closed(socket, url);
  }

  closed(socket, url) {
    if (this.socket !== socket) return;
    this.socket = null;
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(new Error(`${call.method}: connection to ${url} lost`));
      this.pending.delete(id);
    }
    this.bySubscriptionId.clear();
    this.timeouts = 0;
    this.onState({ connected: false, url });
    this.index += 1; // try the next validator
    setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  // The result of `method`, or a rejection (RpcError, lost connection, timeout).
  call(method, params = []) {
    if (!this.connected) return Promise.reject(new Error(`${method}: not connected to a validator`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.timeouts += 1;
        reject(new Error(`${method}: no answer in ${CALL_TIMEOUT_MS / 1000} s`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, method });
      this.socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  // Hear every notification of `method`'s subscription, on this connection and the ones after it.
  subscribe(method, params, onItem) {
    const subscription = { method, params, onItem, id: null };
    this.subscriptions.add(subscription);
    if (this.connected) this.open(subscription);
  }

  open(subscription) {
    this.call(subscription.method, subscription.params).then(
      (id) => {
        subscription.id = id;
        this.bySubscriptionId.set(id, subscription);
      },
      () => {}, // the connection dropped meanwhile: the next one subscribes again
    );
  }

  receive(data) {
    this.heardAt = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // not JSON: nothing a well-behaved node sends, nothing to act on
    }
    if (message.id !== undefined && this.pending.has(message.id)) {
      const call = this.pending.get(message.id);
      this.pending.delete(message.id);
      clearTimeout(call.timer);
      this.timeouts = 0;
      if (message.error) call.reject(new RpcError(call.method, message.error));
      else call.resolve(message.result);
    } else if (message.params && this.bySubscriptionId.has(message.params.subscription)) {
      this.bySubscriptionId.get(message.params.subscription).onItem(message.params.result);
    }
  }
}
