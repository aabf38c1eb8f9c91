// The page's side of the hash worker (hash_worker.js): starts it, hands it
// part blobs, and gives each one up when the worker goes quiet. Importing
// this module touches no browser global; only `new HashWorker()` does.

/** The worker must load and instantiate the module within this long. */
const READY_MS = 10_000;
/** A hash with no sign of life (a chunk hashed, or the heartbeat of a read
 *  under way) for this long has failed. */
const IDLE_MS = 30_000;

export class HashWorker {
  /** @param {WebAssembly.Module} module the library's compiled wasm */
  constructor(module) {
    this.pending = new Map();
    this.nextId = 0;
    this.broken = null;
    // A literal relative URL, so bundlers emit the worker as its own asset.
    this.worker = new Worker(new URL("./hash_worker.js", import.meta.url), { type: "module" });
    this.worker.onmessage = ({ data }) => this.receive(data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.fail(`the hash worker failed: ${event.message || "it could not start"}`);
    };
    this.worker.onmessageerror = () => this.fail("the hash worker could not read a message");
    this.readyTimer = setTimeout(() => this.fail(`the hash worker did not start within ${READY_MS / 1000} s`), READY_MS);
    this.worker.postMessage({ module });
  }

  receive(data) {
    if (data.ready !== undefined) {
      clearTimeout(this.readyTimer);
      if (!data.ready) this.fail(`the hash worker could not start: ${data.error}`);
      return;
    }
    const waiter = this.pending.get(data.id);
    // `progress` (a chunk hashed) and `reading` (a read under way) are
    // signs of life; the answer has a digest or an error.
    if (waiter && !data.progress && !data.reading) {
      this.pending.delete(data.id);
      clearTimeout(waiter.timer);
      // A Blob the worker could not read rejects with `unreadable` (the
      // read error's name): the worker itself is fine. Any other error is
      // the worker's: the page gives it up (hash.rs), so it ends here.
      if (data.error && data.unreadable) waiter.reject(Object.assign(new Error(data.error), { unreadable: data.unreadable }));
      else if (data.error) {
        waiter.reject(new Error(data.error));
        return this.fail(`the hash worker failed: ${data.error}`);
      } else waiter.resolve(data.digest);
    }
    this.alive();
  }

  /**
   * The worker showed progress: every waiting hash's clock starts over
   * (parts queue in the worker, one after another). Only the worker's
   * messages count: a new hash asked for is no sign of its life.
   */
  alive() {
    for (const waiter of this.pending.values()) this.arm(waiter);
  }

  /** Starts `waiter`'s clock over: it fails the worker after `IDLE_MS` without progress. */
  arm(waiter) {
    clearTimeout(waiter.timer);
    waiter.timer = setTimeout(() => this.fail(`the hash worker went ${IDLE_MS / 1000} s without progress`), IDLE_MS);
  }

  fail(message) {
    if (this.broken) return;
    this.broken = message;
    clearTimeout(this.readyTimer);
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(message));
    }
    this.pending.clear();
    this.worker.terminate();
  }

  /**
   * @param {Blob} blob
   * @param {AbortSignal} [signal] gives the hash up: the worker skips it, or
   *   stops it after the chunk under way
   * @returns {Promise<Uint8Array>} the SHA-256 of `blob`
   */
  hash(blob, signal) {
    if (this.broken) return Promise.reject(new Error(this.broken));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const waiter = { resolve, reject, timer: null };
      this.pending.set(id, waiter);
      this.arm(waiter);
      this.worker.postMessage({ id, blob });
      signal?.addEventListener("abort", () => this.giveUp(id), { once: true });
    });
  }

  /** Hash `id` is no longer wanted: rejected here, dropped by the worker. */
  giveUp(id) {
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    clearTimeout(waiter.timer);
    waiter.reject(new DOMException("the hash was given up", "AbortError"));
    this.worker.postMessage({ giveUp: id });
  }
}
