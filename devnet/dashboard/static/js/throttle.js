// Runs a refresh at most once per `gapMs`, never two at once, and never drops the last request: finalized
// heads arrive every few seconds and a view's refresh takes several RPC calls, so refreshing on every one
// would pile calls on a loaded node.

export class Throttle {
  constructor(task, gapMs) {
    this.task = task;
    this.gapMs = gapMs;
    this.last = 0;
    this.timer = null;
    this.running = false;
    this.again = false;
  }

  request() {
    if (this.running) {
      this.again = true;
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.run(), Math.max(0, this.last + this.gapMs - Date.now()));
    }
  }

  async run() {
    this.timer = null;
    this.running = true;
    this.last = Date.now();
    try {
      await this.task();
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.request();
      }
    }
  }
}
