// Hashing off the page's main thread, with the library's own wasm.
//
// This one file plays two parts. Imported by the library on the page, it
// exports `HashWorker`, which starts a module worker from this same file.
// Started as that worker, it loads the library's JS glue, instantiates the
// wasm module the page passed over (no second download), and answers each
// `{ id, blob }` with the SHA-256 of the blob: WebCrypto for a part up to
// 64 MiB, else streamed through sha2 in bounded chunks (`__hashBlob`).

const inWorker =
  typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope;

if (inWorker) {
  let glue = null;
  // A part up to this size is read whole and hashed by WebCrypto (native
  // code: 2.4-3.4x sha2's speed in bench/hash.mjs), one at a time, so the
  // worker holds at most one such part; a larger one, or a page without
  // WebCrypto (not a secure context), streams through sha2 in the wasm.
  const WHOLE_BYTES = 64 * 1024 * 1024;
  const hash = async (blob) => {
    if (globalThis.crypto?.subtle && blob.size <= WHOLE_BYTES) {
      return new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    }
    return (await glue).__hashBlob(blob);
  };
  // One blob at a time, in the order asked: hashes interleaved would all
  // finish late together, and the page waits for the first one most.
  let queue = Promise.resolve();
  globalThis.onmessage = ({ data }) => {
    if (data.init) {
      glue = import(data.init.glue).then(async (g) => {
        await g.default({ module_or_path: data.init.module });
        return g;
      });
      // Told to the hash that needs it, not to the console at once.
      glue.catch(() => {});
      return;
    }
    queue = queue.then(async () => {
      try {
        const digest = await hash(data.blob);
        globalThis.postMessage({ id: data.id, digest }, [digest.buffer]);
      } catch (e) {
        globalThis.postMessage({ id: data.id, error: String((e && e.message) || e) });
      }
    });
  };
}

/** The library's JS glue, relative to this file in wasm-pack's output
 *  (`pkg/snippets/<crate>-<hash>/src/web/hash_worker.js`). */
const GLUE = "../../../../resupload.js";

export class HashWorker {
  /** @param {WebAssembly.Module} module the library's compiled wasm */
  constructor(module) {
    this.pending = new Map();
    this.nextId = 0;
    this.broken = null;
    this.worker = new Worker(new URL(import.meta.url), { type: "module" });
    this.worker.onmessage = ({ data }) => {
      const waiter = this.pending.get(data.id);
      if (!waiter) return;
      this.pending.delete(data.id);
      if (data.error) waiter.reject(new Error(data.error));
      else waiter.resolve(data.digest);
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.fail(`the hash worker failed: ${event.message || "it could not start"}`);
    };
    this.worker.onmessageerror = () => this.fail("the hash worker could not read a message");
    this.worker.postMessage({ init: { glue: new URL(GLUE, import.meta.url).href, module } });
  }

  fail(message) {
    this.broken = message;
    for (const waiter of this.pending.values()) waiter.reject(new Error(message));
    this.pending.clear();
    this.worker.terminate();
  }

  /** @returns {Promise<Uint8Array>} the SHA-256 of `blob` */
  hash(blob) {
    if (this.broken) return Promise.reject(new Error(this.broken));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, blob });
    });
  }
}
