// Nothing hangs without an end: each wait of start() that the browser could
// leave unanswered (opening IndexedDB, the cross-tab lock, the hash worker,
// the origin-private file system, reading the file or a streaming source)
// has a bound, after which the
// upload degrades or fails with a typed error; and a trap inside the
// WebAssembly module rejects every pending promise with INTERNAL_ERROR
// instead of leaving it pending forever (what WPE WebKit 2.38 did), and so
// ends every later call. Written against the tab
// interface of browsers.mjs, so it runs in every engine.

import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";

import { retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, startStack, waitUntil } from "./harness.mjs";
import { openDemo, randomNamespace, waitReady } from "./demo.mjs";
import { installHelpers, pageActivity, pause, resume, startUpload, waitOutcome } from "./in-page.mjs";

const PART = 5 * MIB;

let stack;
let tab;
// Its traps, made on purpose, close the module: a closed module is no
// sign of WPE's fault here (a failure in WPE still gets its second try,
// told as one with no sign: engine-traps.mjs `unexplained`).
const test = retriedOnEngineFault(() => ({ stack, tab, trapsOnPurpose: true }));
before(async () => {
  stack = await startStack({ label: `no-hang-${process.env.E2E_BROWSER || "chromium"}` });
  tab = stack.tab;
});
after(async () => {
  await stack?.stop();
});
afterEach(async () => {
  // The next test starts from a page with the browser's own APIs, once
  // that page has read IndexedDB: in WPE 2.38, navigating away while a
  // reloaded page's load-time IndexedDB work was in flight left IndexedDB
  // unanswering for the next page (as in engines.test.mjs).
  await tab.reload();
  await waitReady(tab);
});

/**
 * Runs `fn` in the page's own realm, through a script element: code run by
 * WebDriver's executeScript runs apart in Firefox (its exceptions fire no
 * `error` event on the page), and a patch must act as the page's own code.
 */
async function inPage(tab, fn) {
  await tab.evaluate(async (source) => {
    const script = document.createElement("script");
    script.textContent = `window.__e2eBreaking = (${source})();`;
    document.head.append(script);
    script.remove();
    await window.__e2eBreaking;
  }, fn.toString());
}

/**
 * In a fresh page, runs `breakIt` (in the page), then uploads a file of
 * `size` bytes with `options`; answers the run's report and how long it took.
 */
async function uploadWith(breakIt, { size = 2 * PART + 1, options = {}, file } = {}) {
  const namespace = randomNamespace("nohang");
  await openDemo(stack, tab, { namespace });
  await installHelpers(tab);
  await inPage(tab, breakIt);
  const started = Date.now();
  const { sha256 } = await startUpload(tab, "run", { file: file ?? { name: "no-hang.bin", size }, options: { namespace, ...options } });
  const run = await waitOutcome(tab, "run", 120_000);
  return { ...run, sha256, seconds: (Date.now() - started) / 1000 };
}

async function assertStored(run) {
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  const object = await stack.debug.object(run.outcome.result.key);
  assert.equal(object.sha256, run.sha256, "the stored object is the file, byte for byte");
}

test("IndexedDB that never answers: after 10 s the upload goes on in memory (STORAGE_UNAVAILABLE)", { timeout: 120_000 }, async () => {
  const run = await uploadWith(() => {
    // A request whose events never fire.
    IDBFactory.prototype.open = () => ({});
  });
  await assertStored(run);
  assert.deepEqual(run.warnings, ["STORAGE_UNAVAILABLE"]);
  assert.ok(run.seconds >= 9, `it waited for the bound (${run.seconds} s)`);
});

test("a lock manager that never answers: after 10 s the upload goes on unlocked (LOCK_UNAVAILABLE)", { timeout: 120_000 }, async () => {
  const run = await uploadWith(() => {
    LockManager.prototype.request = () => new Promise(() => {});
  });
  await assertStored(run);
  assert.deepEqual(run.warnings, ["LOCK_UNAVAILABLE"]);
  assert.ok(run.seconds >= 9, `it waited for the bound (${run.seconds} s)`);
});

test("an origin-private file system that never answers: each look into it is given up after 10 s, and the upload goes on", { timeout: 120_000 }, async (t) => {
  await openDemo(stack, tab);
  const hasOpfs = await tab.evaluate(() => typeof StorageManager !== "undefined" && typeof StorageManager.prototype.getDirectory === "function");
  if (!hasOpfs) return t.skip("no origin-private file system here (nothing to look into)");
  // Looked into before and after every upload, staged or not (its copies'
  // names, to collect orphans; the copy's removal once stored).
  const run = await uploadWith(() => {
    StorageManager.prototype.getDirectory = () => {
      window.opfsLooks = (window.opfsLooks ?? 0) + 1;
      return new Promise(() => {});
    };
  });
  await assertStored(run);
  assert.deepEqual(run.warnings, []);
  // Looked into before the upload and again to remove its copy: each look
  // given up after its 10 s.
  const looks = await tab.evaluate(() => window.opfsLooks ?? 0);
  assert.ok(looks >= 1, "the origin-private file system was looked into");
  assert.ok(run.seconds >= 9, `it waited for the bound (${run.seconds} s)`);
});

test("a hash worker that never answers: after 10 s the page hashes the parts itself", { timeout: 120_000 }, async () => {
  const run = await uploadWith(() => {
    // A worker that takes messages and never answers.
    window.Worker = class {
      postMessage() {}
      terminate() {}
    };
  }, { options: { checksum: "sha256" } });
  await assertStored(run);
  assert.match(run.outcome.result.checksumSha256, /-3$/, "every part was hashed and checked by the store");
  assert.deepEqual(run.warnings, []);
  const { consoleWarnings } = await pageActivity(tab);
  assert.ok(
    consoleWarnings.some((w) => /hashing on the page's thread/.test(w) && /did not start within 10 s/.test(w)),
    JSON.stringify(consoleWarnings),
  );
});

test("a hash worker that answers a hash with an error (not the file's) is ended, and the page hashes the parts itself", { timeout: 120_000 }, async () => {
  const run = await uploadWith(() => {
    window.endedWorkers = 0;
    window.Worker = class {
      postMessage(data) {
        if (data.module) setTimeout(() => this.onmessage({ data: { ready: true } }));
        else if (data.blob) setTimeout(() => this.onmessage({ data: { id: data.id, error: "sha2 trapped" } }));
      }
      terminate() {
        window.endedWorkers += 1;
      }
    };
  }, { options: { checksum: "sha256" } });
  await assertStored(run);
  assert.match(run.outcome.result.checksumSha256, /-3$/, "every part was hashed and checked by the store");
  // Before, the page gave the worker up but left it running.
  assert.equal(await tab.evaluate(() => window.endedWorkers), 1, "the worker was ended once");
});

test("a hash worker that starts and then stands still: the page hashes the parts itself 30 s on, while other uploads keep asking it", { timeout: 180_000 }, async () => {
  const run = await uploadWith(() => {
    // A worker that says it is ready and then never answers a hash.
    window.Worker = class {
      postMessage(data) {
        if (data.module) setTimeout(() => this.onmessage({ data: { ready: true } }));
      }
      terminate() {}
    };
    // Other uploads of the page ask the worker for hashes every 8 s, for a
    // minute: asking is no sign of life from the worker.
    let n = 0;
    const poke = setInterval(() => {
      if (++n > 8 || window.e2e.runs.run?.outcome) return clearInterval(poke);
      const file = { name: `poke${n}.bin`, size: 2 * 5 * 2 ** 20 + 1, seed: n };
      window.e2e.start(`poke${n}`, { file, options: { namespace: "no-hang-pokes", checksum: "sha256" } });
    }, 8_000);
  }, { options: { checksum: "sha256" } });
  await assertStored(run);
  // Before, each new hash gave every waiting one 30 s more: about 95 s.
  assert.ok(run.seconds < 60, `the stuck hash was given up 30 s on (${run.seconds} s)`);
  const { consoleWarnings } = await pageActivity(tab);
  assert.ok(
    consoleWarnings.some((w) => /hashing on the page's thread/.test(w) && /30 s without progress/.test(w)),
    JSON.stringify(consoleWarnings),
  );
  // The other uploads end too (none is left running for the next test).
  const pokes = () => tab.evaluate(() => Object.entries(window.e2e.runs).filter(([name]) => name.startsWith("poke")));
  const ended = await waitUntil(async () => ((await pokes()).every(([, run]) => run.outcome) ? pokes() : null), { timeout: 60_000, what: "the other uploads to end" });
  for (const [name, poked] of ended) assert.ok(poked.outcome.result, `${name}: ${JSON.stringify(poked.outcome.error)}`);
});

test("a hash worker whose reads are slow: its heartbeat keeps it, and a read that never answers is given up after its bound, that part hashed by the page", { timeout: 240_000 }, async () => {
  const run = await uploadWith(() => {
    // The hash worker, with its Blob reads patched: the small last part's
    // read never answers, and the first read of a 5 MiB part answers 35 s
    // on (longer than the page waits for a sign of life).
    const Counted = window.Worker;
    window.slowReads = { reading: 0, timedOut: 0 };
    window.Worker = class extends Counted {
      constructor(url, options) {
        const patched = `import ${JSON.stringify(String(url))};
          const read = Blob.prototype.arrayBuffer;
          let slowed = false;
          Blob.prototype.arrayBuffer = function () {
            if (this.size < 1024) return new Promise(() => {});
            if (slowed) return read.call(this);
            slowed = true;
            return new Promise((wake) => setTimeout(wake, 35_000)).then(() => read.call(this));
          };`;
        super(URL.createObjectURL(new Blob([patched], { type: "text/javascript" })), options);
        this.addEventListener("message", ({ data }) => {
          if (data?.reading) window.slowReads.reading += 1;
          if (data?.unreadable === "TimeoutError") window.slowReads.timedOut += 1;
        });
      }
    };
  }, { options: { checksum: "sha256" } });
  await assertStored(run);
  assert.match(run.outcome.result.checksumSha256, /-3$/, "every part was hashed and checked by the store");
  const slowReads = await tab.evaluate(() => window.slowReads);
  assert.ok(slowReads.reading >= 3, `the worker said it was alive while its reads waited: ${JSON.stringify(slowReads)}`);
  assert.equal(slowReads.timedOut, 1, "the read that never answers was given up once");
  const { consoleWarnings, workerDigests } = await pageActivity(tab);
  assert.equal(workerDigests, 2, "the worker hashed both 5 MiB parts, the slow one too");
  assert.deepEqual(consoleWarnings.filter((w) => /hashing on the page's thread/.test(w)), [], "the worker was kept");
});

test("a paused upload's hash whose read never answers is given up at once: the hashes after it keep the worker", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("nohang");
  await openDemo(stack, tab, { namespace });
  await installHelpers(tab);
  await inPage(tab, () => {
    // The hash worker's first read never answers; it says when it began.
    const Counted = window.Worker;
    window.hangingRead = false;
    window.Worker = class extends Counted {
      constructor(url, options) {
        const patched = `import ${JSON.stringify(String(url))};
          const read = Blob.prototype.arrayBuffer;
          let hung = false;
          Blob.prototype.arrayBuffer = function () {
            if (hung) return read.call(this);
            hung = true;
            postMessage({ hangingRead: true });
            return new Promise(() => {});
          };`;
        super(URL.createObjectURL(new Blob([patched], { type: "text/javascript" })), options);
        this.addEventListener("message", ({ data }) => {
          if (data?.hangingRead) window.hangingRead = true;
        });
      }
    };
  });
  const started = Date.now();
  const { sha256 } = await startUpload(tab, "run", { file: { name: "no-hang.bin", size: 2 * PART + 1 }, options: { namespace, checksum: "sha256" } });
  await waitUntil(() => tab.evaluate(() => window.hangingRead), { timeout: 30_000, what: "the worker's read to hang" });
  await pause(tab, "run");
  await resume(tab, "run");
  const run = await waitOutcome(tab, "run", 120_000);
  await assertStored({ ...run, sha256 });
  assert.match(run.outcome.result.checksumSha256, /-3$/);
  // Before, the worker's queue waited behind the read no one wanted, the
  // page heard nothing for 30 s, and hashed every later part itself.
  const { consoleWarnings } = await pageActivity(tab);
  assert.deepEqual(consoleWarnings.filter((w) => /hashing on the page's thread/.test(w)), [], "the worker was kept");
  assert.ok((Date.now() - started) / 1000 < 60, "no wait for the read's bound");
});

test("a streaming source whose read never answers: READ_FAILED after 30 s, nothing lost", { timeout: 120_000 }, async () => {
  const hung = await uploadWith(() => {
    // The source's read, once its digest is taken, never answers.
    const original = window.e2e.source;
    window.e2e.source = async (spec) => {
      const made = await original(spec);
      made.source.read = () => new Promise(() => {});
      return made;
    };
  }, { file: { stream: { id: "never-again", size: 2 * PART, seed: 3 } } });
  assert.equal(hung.outcome.error?.code, "READ_FAILED", JSON.stringify(hung.outcome));
  assert.match(hung.outcome.error.message, /no bytes within 30 s/);
});

/**
 * In a fresh page, runs `call` as the page's own code (in Firefox, a
 * module imported by a WebDriver script reports no errors to the page).
 * `call` is given `simulatedTrap` (throws a RuntimeError, as a trap
 * would), `simulatedThrow` (throws a TypeError), `trapBackendAnswers(make
 * = simulatedTrap)` (every backend answer's `status`, read inside the
 * module, then calls `make`, until the promise settled) and
 * `smallFile(name)` (a 1,000-byte File); it answers `{ promise, again }`:
 * a promise of the API to watch, and a call of the API to make once it
 * settled. Answers how that promise settled and in how many ms, and as
 * `again` how the later call ended: `{ threw }` or `{ rejected }` (an
 * error's code), `{ resolved: true }`, or `{ pending: true }` after 10 s.
 */
async function settledInPage(label, call) {
  await openDemo(stack, tab, { namespace: randomNamespace(label) });
  const started = Date.now();
  await inPage(
    tab,
    `async () => {
      window.trapOutcome = null;
      const simulatedTrap = () => {
        throw new WebAssembly.RuntimeError("simulated trap");
      };
      const simulatedThrow = () => {
        throw new TypeError("simulated trap: a TypeError thrown through the module");
      };
      const status = Object.getOwnPropertyDescriptor(Response.prototype, "status");
      const trapBackendAnswers = (make = simulatedTrap) => Object.defineProperty(Response.prototype, "status", { configurable: true, get: make });
      const smallFile = (name) => new File([new Uint8Array(1000)], name, { lastModified: 1 });
      const { promise, again } = await (${call})({ simulatedTrap, simulatedThrow, trapBackendAnswers, smallFile });
      const ended = (e) => e?.code ?? String(e);
      const later = async () => {
        // The backend's answers are whole again: only the closed module can end the call.
        Object.defineProperty(Response.prototype, "status", status);
        let answer;
        try {
          answer = again();
        } catch (e) {
          return { threw: ended(e) };
        }
        const timeout = new Promise((resolve) => setTimeout(() => resolve({ pending: true }), 10000));
        const settled = Promise.resolve(answer).then(() => ({ resolved: true }), (e) => ({ rejected: ended(e) }));
        return Promise.race([settled, timeout]);
      };
      promise.then(
        async () => (window.trapOutcome = { resolved: true, again: await later() }),
        async (e) => {
          const outcome = { code: e.code, message: e.message };
          window.trapOutcome = { ...outcome, again: await later() };
        },
      );
    }`,
  );
  const outcome = await waitUntil(() => tab.evaluate(() => window.trapOutcome), { timeout: 45_000, what: "the promise to settle" });
  return { ...outcome, ms: Date.now() - started };
}

// Each case's trap closes the module: its promise rejects at once, and so
// does every later call (or it throws, for a method that returns a value
// that is not a promise), which never enters the broken module again.
const TRAPPED_PROMISES = [
  {
    what: "start()",
    call: async ({ trapBackendAnswers, smallFile }) => {
      const mod = await import("/pkg/resupload.js");
      await mod.default();
      // The first backend answer throws inside the module, as a trap would.
      trapBackendAnswers();
      const upload = new mod.Upload(smallFile("trap.bin"), { endpoint: "/api/s3", retryDelays: [0] });
      // Before, start() ran again in the broken module.
      return { promise: upload.start(), again: () => upload.start() };
    },
    again: { rejected: "INTERNAL_ERROR" },
  },
  {
    // Not only a trap: any exception thrown through the module's frames
    // (a browser API that throws where it never does, an engine's stack
    // overflow: a RangeError) leaves its state as broken. Before, only a
    // RuntimeError closed the module, and start() stayed pending.
    what: "start() when a browser API throws a TypeError through the module",
    call: async ({ simulatedThrow, trapBackendAnswers, smallFile }) => {
      const mod = await import("/pkg/resupload.js");
      await mod.default();
      trapBackendAnswers(simulatedThrow);
      const upload = new mod.Upload(smallFile("throw.bin"), { endpoint: "/api/s3", retryDelays: [0] });
      return { promise: upload.start(), again: () => upload.start() };
    },
    again: { rejected: "INTERNAL_ERROR" },
  },
  {
    // Before, only start() was guarded: a trap in findPrevious, listPending
    // or an UploadQueue's methods left their promise pending for ever.
    what: "a lookup's promise (findPrevious)",
    call: async ({ simulatedTrap, smallFile }) => {
      const mod = await import("/pkg/pending/resupload.js");
      await mod.default();
      // A file handle whose file, once asked for, throws inside the module
      // (the module awaits it: its `then` is called from the module).
      const getFile = () => ({ then: simulatedTrap });
      return {
        promise: mod.Upload.findPrevious({ kind: "file", getFile }, { endpoint: "/api/s3" }),
        // A constructor returns no promise: it throws.
        again: () => new mod.Upload(smallFile("after.bin"), { endpoint: "/api/s3" }),
      };
    },
    again: { threw: "INTERNAL_ERROR" },
  },
  {
    what: "an UploadQueue's start()",
    call: async ({ trapBackendAnswers, smallFile }) => {
      const mod = await import("/pkg/queue/resupload.js");
      await mod.default();
      trapBackendAnswers();
      const namespace = `trap-queue-${Math.random().toString(16).slice(2)}`;
      const queue = new mod.UploadQueue({ endpoint: "/api/s3", namespace, retryDelays: [0] });
      await queue.add(smallFile("trap-queue.bin"));
      const again = () => {
        // A call that returns nothing (there is nothing left to pause) does nothing.
        queue.pause();
        // Before, the queue still counted its run as running: ALREADY_RUNNING.
        return queue.start();
      };
      return { promise: queue.start(), again };
    },
    again: { rejected: "INTERNAL_ERROR" },
  },
  {
    // The trap is in a synchronous call whose error the page catches, so
    // the page reports no error: before, the pending start() went on in
    // the broken module (here, until its source's read timed out at 30 s).
    what: "an upload's start() when another call traps and the page catches it",
    call: async ({ simulatedTrap, smallFile }) => {
      const mod = await import("/pkg/resupload.js");
      await mod.default();
      const never = { size: 1000, id: `never-${Math.random()}`, read: () => new Promise(() => {}) };
      const promise = new mod.Upload(never, { endpoint: "/api/s3" }).start();
      const file = smallFile("trap.bin");
      Object.defineProperty(file, "size", { get: simulatedTrap });
      let caught;
      try {
        new mod.Upload(file, { endpoint: "/api/s3" });
      } catch (error) {
        caught = error;
      }
      return {
        promise,
        again: () => {
          throw caught;
        },
      };
    },
    again: { threw: "INTERNAL_ERROR" },
  },
];

for (const { what, call, again } of TRAPPED_PROMISES) {
  test(`a trap inside the module rejects ${what} with INTERNAL_ERROR instead of hanging, and closes the module`, { timeout: 120_000 }, async () => {
    const outcome = await settledInPage("trap", call);
    assert.equal(outcome.code, "INTERNAL_ERROR", JSON.stringify(outcome));
    assert.match(outcome.message, /simulated trap/);
    assert.ok(outcome.ms < 10_000, `it ended at once (${outcome.ms} ms)`);
    assert.deepEqual(outcome.again, again, "the call after the trap");
    // Before, a run's Web Lock stayed held until the page went: other tabs
    // saw the upload running, and lock: "wait" waited for ever.
    const ours = () => tab.evaluate(async () => (await navigator.locks.query()).held.map((l) => l.name).filter((n) => n.startsWith("resupload:")));
    await waitUntil(async () => (await ours()).length === 0, { timeout: 5_000, what: "the module's Web Locks to be let go of" }).catch(() => {});
    assert.deepEqual(await ours(), [], "the module's Web Locks are let go of");
    // Before, its IndexedDB connections stayed open (their versionchange
    // handler was the module's, which does nothing after a trap): another
    // tab's upgrade, or a delete, was blocked until the page went.
    const deleted = await tab.evaluate(
      () =>
        new Promise((resolve) => {
          const request = indexedDB.deleteDatabase("resupload");
          let blocked = false;
          request.onblocked = () => (blocked = true);
          request.onsuccess = () => resolve({ deleted: true, blocked });
          request.onerror = () => resolve({ deleted: false, error: String(request.error) });
          setTimeout(() => resolve({ deleted: false, blocked }), 5_000);
        }),
    );
    assert.deepEqual(deleted, { deleted: true, blocked: false }, "the database is let go of");
  });
}

test("a trap in another WebAssembly module of the page leaves the upload running", { timeout: 120_000 }, async () => {
  // Pages that upload often run other modules (an image resizer, a video
  // transcoder). A trap of theirs, as an uncaught error or an unhandled
  // rejection, is theirs: it must not end this module's runs.
  const run = await uploadWith(async () => {
    // A module whose one export traps: (func (export "trap") unreachable).
    const bytes = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
      0x07, 0x08, 0x01, 0x04, 0x74, 0x72, 0x61, 0x70, 0x00, 0x00, 0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b,
    ]);
    const { instance } = await WebAssembly.instantiate(bytes);
    // The traps the page saw reported, each kind, until the run ends.
    window.otherTraps = { error: 0, unhandledrejection: 0 };
    for (const kind of Object.keys(window.otherTraps)) {
      addEventListener(kind, (event) => {
        if ((event.error ?? event.reason) instanceof WebAssembly.RuntimeError) window.otherTraps[kind] += 1;
      });
    }
    let traps = 0;
    const timer = setInterval(() => {
      if (window.e2e.runs?.run?.outcome) return clearInterval(timer);
      // Alternately an uncaught error and an unhandled rejection.
      traps += 1;
      if (traps % 2) instance.exports.trap();
      else Promise.resolve().then(() => instance.exports.trap());
    }, 5);
  });
  const seen = await tab.evaluate(() => window.otherTraps);
  assert.ok(seen.error >= 1 && seen.unhandledrejection >= 1, `both kinds of trap were reported while the upload ran: ${JSON.stringify(seen)}`);
  await assertStored(run);
});

test("a method called on a freed Upload throws to its caller alone: the module is not closed, and other uploads go on", { timeout: 120_000 }, async () => {
  // wasm-bindgen throws on purpose there ("null pointer passed to rust"),
  // before any of the module's code runs. Taken for a trap, it would end
  // every upload of the page with INTERNAL_ERROR.
  await openDemo(stack, tab, { namespace: randomNamespace("freed") });
  await inPage(
    tab,
    `async () => {
      const mod = await import("/pkg/resupload.js");
      await mod.default();
      const file = (name) => new File([new Uint8Array(1000)], name, { lastModified: 1 });
      const running = new mod.Upload(file("beside-free.bin"), { endpoint: "/api/s3" }).start();
      const freed = new mod.Upload(file("freed.bin"), { endpoint: "/api/s3" });
      freed.free();
      const attempt = (call) => {
        try {
          call();
          return null;
        } catch (e) {
          return { code: e.code ?? null, message: e.message };
        }
      };
      const thrown = [attempt(() => freed.pause()), attempt(() => freed.start())];
      const settle = (promise) => promise.then((r) => ({ key: r.key }), (e) => ({ code: e.code }));
      const after = new mod.Upload(file("after-free.bin"), { endpoint: "/api/s3" }).start();
      window.freedOutcome = { thrown, running: await settle(running), after: await settle(after) };
    }`,
  );
  const outcome = await waitUntil(() => tab.evaluate(() => window.freedOutcome), { timeout: 45_000, what: "the uploads to end" });
  for (const thrown of outcome.thrown) {
    assert.ok(thrown && thrown.code !== "INTERNAL_ERROR", `the freed upload's call threw its own error: ${JSON.stringify(outcome.thrown)}`);
  }
  assert.ok(outcome.running.key, `the upload running beside it completed: ${JSON.stringify(outcome.running)}`);
  assert.ok(outcome.after.key, `an upload started after it completed: ${JSON.stringify(outcome.after)}`);
});

test("a browser without a feature resupload needs gets UNSUPPORTED_BROWSER naming it, from new Upload()", { timeout: 60_000 }, async () => {
  await openDemo(stack, tab, { namespace: randomNamespace("unsupported") });
  await installHelpers(tab);
  const thrown = await tab.evaluate(async () => {
    const { Upload } = await window.e2e.lib();
    const file = new File([new Uint8Array(10)], "x.bin");
    const attempt = () => {
      try {
        new Upload(file, { endpoint: "/api/s3" });
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, message: e.message };
      }
    };
    const before = attempt();
    const saved = window.AbortController;
    delete window.AbortController;
    const without = attempt();
    window.AbortController = saved;
    return { before, without };
  });
  assert.equal(thrown.before, null, "a complete browser constructs the upload");
  assert.equal(thrown.without?.code, "UNSUPPORTED_BROWSER", JSON.stringify(thrown.without));
  assert.equal(thrown.without.name, "ResuploadError");
  assert.match(thrown.without.message, /AbortController/);
});
