// Two tabs, one file: a Web Lock named by the upload's key lets only one of
// them upload it. Two pages of one browser context (one IndexedDB, one lock
// manager); the store gate holds the first tab's upload midway.

import assert from "node:assert/strict";

import { retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, sleep, waitUntil } from "./harness.mjs";
import { listedPending, openDemo, randomNamespace, waitReady } from "./demo.mjs";
import { clearPending, findPrevious, installHelpers, pause, pending, report, resume, startUpload, waitOutcome } from "./in-page.mjs";
import { assertObject, pauseHeld, startAndHold, useStack } from "./steps.mjs";

const stack = useStack("locks");
const test = retriedOnEngineFault(() => ({ stack }));

const FILE = { name: "two-tabs.bin", size: 4 * 5 * MIB + 11 }; // 5 parts

/** The stack's tab and a second one, both on the demo; null where the driver cannot open a second. */
async function tabs(namespace) {
  const a = stack.tab;
  const b = await stack.browser.newTab();
  if (!b) return null;
  await openDemo(stack, a, { namespace });
  await openDemo(stack, b, { namespace });
  return [a, b];
}

/** The part numbers the store took since `mark`. */
function storedSince(mark) {
  return stack.gate.since(mark).filter((p) => p.state === "done").map((p) => p.partNumber).sort();
}

/**
 * Starts an UploadQueue of `files` (specs as `window.e2e.source` takes) with `options` in
 * `tab`, as `window.lockQueues[name]`: its onFile reports and its outcome.
 */
async function startQueue(tab, name, files, options) {
  await installHelpers(tab);
  await tab.evaluate(async ({ name, files, options }) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const sources = await Promise.all(files.map(async (f) => (await window.e2e.source(f)).source));
    const run = { files: [], outcome: null };
    const plain = (f) => ({ name: f.file.name, code: f.error?.code, message: f.error?.message, key: f.key });
    const queue = new UploadQueue({ endpoint: "/api/s3", partSize: 5 * 2 ** 20, ...options, onFile: (f) => run.files.push(plain(f)) });
    await queue.add(sources);
    run.queue = queue;
    (window.lockQueues ??= {})[name] = run;
    queue.start().then(
      (r) => (run.outcome = { done: r.done.map(plain), failed: r.failed.map(plain) }),
      (e) => (run.outcome = { error: e.code, message: e.message }),
    );
  }, { name, files, options });
}

/** What queue `name` of `tab` reported so far. */
const queued = (tab, name) => tab.evaluate((name) => ({ ...window.lockQueues[name], queue: undefined }), name);

const noSecondTab = () => `${stack.browserName}'s driver cannot open a second tab (it answers with the same window)`;

/**
 * Runs `body({ a, b, namespace, mark })` in the stack's tab and a second one, both on the
 * demo with a fresh namespace (`mark`: the gate's, taken before); skips where the driver
 * cannot open a second tab. The gate is released and the second tab closed after.
 */
async function inTwoTabs(t, label, body) {
  const namespace = randomNamespace(label);
  const opened = await tabs(namespace);
  if (!opened) return t.skip(noSecondTab());
  const [a, b] = opened;
  try {
    await body({ a, b, namespace, mark: stack.gate.mark() });
  } finally {
    stack.gate.release();
    await b.close();
  }
}

test("a second tab uploading the same file fails with UPLOAD_LOCKED; every part is sent once", { timeout: 120_000 }, async (t) => {
  await inTwoTabs(t, "lock-fail", async ({ a, b, namespace, mark }) => {
    const spec = { file: FILE, options: { namespace, concurrency: 1 } };
    await startAndHold(stack, a, "a", spec, 2); // the first tab's third part is held
    await startUpload(b, "b", spec);
    const second = (await waitOutcome(b, "b")).outcome;
    assert.equal(second.error?.code, "UPLOAD_LOCKED", JSON.stringify(second));
    assert.match(second.error.message, /another tab/);
    stack.gate.release();
    const first = await waitOutcome(a, "a");
    assert.ok(first.outcome.result, JSON.stringify(first.outcome));
    assert.deepEqual(storedSince(mark), [1, 2, 3, 4, 5], "each part reached the store once");
    await assertObject(stack, first.outcome.result.key, first.sha256);
  });
});

test("with lock: \"wait\" the second tab starts when the first stops, and resumes its parts", { timeout: 120_000 }, async (t) => {
  await inTwoTabs(t, "lock-wait", async ({ a, b, namespace, mark }) => {
    const spec = { file: FILE, options: { namespace, concurrency: 1 } };
    await startAndHold(stack, a, "a", spec, 2); // the first tab's third part is held
    await startUpload(b, "b", { file: FILE, options: { ...spec.options, lock: "wait" } });
    await sleep(500);
    assert.equal((await report(b, "b")).outcome, null, "the second tab waits");
    stack.gate.release(); // the first tab's held part goes through...
    stack.gate.holdAfter(0); // ...and it is paused before sending more
    await waitUntil(() => stack.gate.heldOpen() === 1, { timeout: 30_000, what: "the first tab's fourth part to be held" });
    await pauseHeld(stack, a, "a");
    const second = await waitOutcome(b, "b");
    assert.ok(second.outcome.result, JSON.stringify(second.outcome));
    assert.equal(second.resumes.length, 1);
    assert.equal(second.resumes[0].skippedParts, 3, "the parts the first tab stored are not sent again");
    assert.deepEqual(storedSince(mark), [1, 2, 3, 4, 5], "each part reached the store once");
    await assertObject(stack, second.outcome.result.key, second.sha256);
  });
});

/** The names of the resupload locks `tab`'s lock manager has requests waiting for, of any tab. */
async function waitingLocks(tab) {
  return tab.evaluate(async () =>
    (await navigator.locks.query()).pending.map((l) => l.name).filter((n) => n.startsWith("resupload:")),
  );
}

test("a tab paused while it waits for the lock takes its request back", { timeout: 120_000 }, async (t) => {
  // Left queued, the request would be granted to nobody when the first tab
  // lets go, in the way of a third tab's start at that moment.
  await inTwoTabs(t, "lock-withdraw", async ({ a, b, namespace, mark }) => {
    const spec = { file: FILE, options: { namespace, concurrency: 1 } };
    await startAndHold(stack, a, "a", spec, 2);
    await startUpload(b, "b", { file: FILE, options: { ...spec.options, lock: "wait" } });
    await waitUntil(async () => (await waitingLocks(b)).length === 1, { timeout: 10_000, what: "the second tab's request to wait" });
    await pause(b, "b");
    await waitUntil(async () => (await waitingLocks(b)).length === 0, { timeout: 10_000, what: "the paused request to be taken back" });
    stack.gate.release();
    const first = await waitOutcome(a, "a");
    assert.ok(first.outcome.result, JSON.stringify(first.outcome));
    assert.deepEqual(storedSince(mark), [1, 2, 3, 4, 5], "each part reached the store once");
  });
});

test("a lock manager that refuses the request: the upload goes on unlocked with LOCK_UNAVAILABLE, lock: \"wait\" too", { timeout: 120_000 }, async () => {
  // The browser refuses by rejecting the request's promise, without calling
  // back: in an opaque origin (a sandboxed iframe) or with storage blocked,
  // which this harness's pages are not. The page's lock manager is made to
  // answer as it does there (on its prototype: WebKit may make a new
  // `navigator.locks` wrapper, without a property set on the old one).
  const tab = stack.tab;
  await openDemo(stack, tab);
  await tab.evaluate(() => {
    window.realLockRequest ??= LockManager.prototype.request;
    LockManager.prototype.request = () => Promise.reject(new DOMException("The request was denied.", "SecurityError"));
  });
  try {
    for (const lock of ["fail", "wait"]) {
      await startUpload(tab, `refused-${lock}`, { file: { name: `refused-${lock}.bin`, size: 5 * MIB + 1 }, options: { namespace: randomNamespace(`lock-refused-${lock}`), lock } });
      const run = await waitOutcome(tab, `refused-${lock}`);
      assert.ok(run.outcome.result, `lock: "${lock}": ${JSON.stringify(run.outcome)}`);
      assert.ok(run.warnings.includes("LOCK_UNAVAILABLE"), `lock: "${lock}": ${JSON.stringify(run.warnings)}`);
      // The run's own time, from start() to its end (not the page's set-up).
      assert.ok(run.ms < 9_000, `lock: "${lock}": not held up by the lock manager's timeout (${Math.round(run.ms)} ms)`);
      await assertObject(stack, run.outcome.result.key, run.sha256);
    }
  } finally {
    await tab.evaluate(() => (LockManager.prototype.request = window.realLockRequest));
  }
});

test("a file of the same name and size but another date in a second tab leaves the first tab's upload alone", { timeout: 120_000 }, async (t) => {
  // Not the first tab's file changed (that one is still read there): two
  // files. Before, the second tab aborted the first's upload on the server.
  await inTwoTabs(t, "lock-changed", async ({ a, b, namespace, mark }) => {
    await startAndHold(stack, a, "a", { file: FILE, options: { namespace, concurrency: 1 } }, 2);
    const other = { ...FILE, seed: 2, lastModified: 1_700_000_999_000 };
    await startUpload(b, "b", { file: other, options: { namespace } });
    // The second tab's first part is held too: its look at the stored
    // records (where it would take the first's for this file changed) is over.
    await waitUntil(() => stack.gate.heldOpen() >= 2, { timeout: 30_000, what: "a part of each tab to be held" });
    stack.gate.release();
    const second = await waitOutcome(b, "b");
    assert.ok(second.outcome.result, JSON.stringify(second.outcome));
    assert.deepEqual(second.restarts, [], "nothing was taken for this file changed");
    const first = await waitOutcome(a, "a");
    assert.ok(first.outcome.result, JSON.stringify(first.outcome));
    assert.deepEqual(first.restarts, [], "the first upload was never lost");
    const firstParts = stack.gate.since(mark).filter((p) => p.state === "done" && p.uploadId === first.outcome.result.uploadId);
    assert.deepEqual(firstParts.map((p) => p.partNumber).sort(), [1, 2, 3, 4, 5], "each of the first tab's parts was sent once");
    await assertObject(stack, first.outcome.result.key, first.sha256);
    await assertObject(stack, second.outcome.result.key, second.sha256);
  });
});

test("a queue in a second tab fails the file the first tab uploads with UPLOAD_LOCKED, sends the rest, and its cancel leaves that upload alone", { timeout: 120_000 }, async (t) => {
  await inTwoTabs(t, "lock-queue", async ({ a, b, namespace, mark }) => {
    const small = { name: "small.bin", size: 1000, seed: 3 };
    await startAndHold(stack, a, "a", { file: FILE, options: { namespace, concurrency: 1 } }, 2);
    await startQueue(b, "b", [FILE, small], { namespace });
    const locked = await waitUntil(async () => (await queued(b, "b")).files.find((f) => f.name === FILE.name), { timeout: 30_000, what: "the queue to end the locked file" });
    assert.equal(locked.code, "UPLOAD_LOCKED", JSON.stringify(locked));
    assert.match(locked.message, /another tab/);
    // Cancelled there, the file's upload is left to the first tab's run.
    assert.equal(await b.evaluate(() => window.lockQueues.b.queue.cancel(0)), true);
    stack.gate.release();
    const outcome = await waitUntil(async () => (await queued(b, "b")).outcome, { timeout: 60_000, what: "the queue to end" });
    assert.deepEqual(outcome.failed.map((f) => f.name), [], JSON.stringify(outcome));
    assert.deepEqual(outcome.done.map((f) => f.name), [small.name], JSON.stringify(outcome));
    const first = await waitOutcome(a, "a");
    assert.ok(first.outcome.result, JSON.stringify(first.outcome));
    assert.deepEqual(first.restarts, [], "the first upload was never aborted");
    assert.deepEqual(storedSince(mark).filter((n) => n > 0), [1, 2, 3, 4, 5], "each of the first tab's parts reached the store once");
    await assertObject(stack, first.outcome.result.key, first.sha256);
  });
});

/**
 * Tab `a` uploads `spec`, held after 2 parts; tab `b`'s start() and abort()
 * of the same file both answer UPLOAD_LOCKED.
 */
async function lockedOut(a, b, spec) {
  await startAndHold(stack, a, "a", spec, 2);
  await startUpload(b, "b", spec);
  assert.equal((await waitOutcome(b, "b")).outcome.error?.code, "UPLOAD_LOCKED");
  const aborted = await b.evaluate(() => window.e2e.runs.b.upload.abort().then(() => "resolved", (e) => e.code));
  assert.equal(aborted, "UPLOAD_LOCKED");
}

test("abort() and clearPending() in a second tab leave the upload the first tab runs", { timeout: 120_000 }, async (t) => {
  // Aborting it on the server would not stop the first tab: its run would
  // only start the file again from nothing.
  await inTwoTabs(t, "lock-abort", async ({ a, b, namespace, mark }) => {
    const spec = { file: FILE, options: { namespace, concurrency: 1 } };
    await lockedOut(a, b, spec);
    assert.equal(await clearPending(b, namespace), 0, "nothing to clear: the upload is running");
    stack.gate.release();
    const first = await waitOutcome(a, "a");
    assert.ok(first.outcome.result, JSON.stringify(first.outcome));
    assert.deepEqual(first.restarts, [], "the first upload was never aborted");
    assert.deepEqual(storedSince(mark), [1, 2, 3, 4, 5], "each part reached the store once");
    await assertObject(stack, first.outcome.result.key, first.sha256);
  });
});

test("after an abort() refused with UPLOAD_LOCKED, start() goes on with the upload once the other tab lets go", { timeout: 120_000 }, async (t) => {
  // The refused abort aborted nothing: the record and the server's upload
  // stand, so the second tab may take the upload over.
  await inTwoTabs(t, "lock-abort-start", async ({ a, b, namespace, mark }) => {
    const spec = { file: FILE, options: { namespace, concurrency: 1 } };
    await lockedOut(a, b, spec);
    await pauseHeld(stack, a, "a");
    await waitUntil(async () => (await findPrevious(b, FILE, namespace))?.running === false, {
      timeout: 10_000,
      what: "the paused upload to be found not running",
    });
    await resume(b, "b");
    const second = await waitOutcome(b, "b");
    assert.ok(second.outcome.result, JSON.stringify(second.outcome));
    assert.ok(second.resumes.length > 0 && second.resumes.at(-1).skippedParts > 0, JSON.stringify(second.resumes));
    assert.deepEqual(storedSince(mark), [1, 2, 3, 4, 5], "each part reached the store once");
    await assertObject(stack, second.outcome.result.key, second.sha256);
  });
});

test("listPending and findPrevious say whether a run, of this tab or another, is uploading it", { timeout: 120_000 }, async (t) => {
  await inTwoTabs(t, "lock-list", async ({ a, b, namespace }) => {
    const spec = { file: FILE, options: { namespace, concurrency: 1 } };
    await startAndHold(stack, a, "a", spec, 2);
    const running = async (tab) => ({
      listed: (await pending(tab, namespace)).map((p) => p.running),
      found: (await findPrevious(tab, FILE, namespace))?.running,
    });
    for (const tab of [a, b]) assert.deepEqual(await running(tab), { listed: [true], found: true });
    // The demo in the second tab, opened now, shows it as the other tab's.
    await b.reload();
    await waitReady(b);
    const shown = await listedPending(b);
    assert.equal(shown.items.length, 1);
    assert.match(shown.items[0].text, /Uploading in another tab/);
    await pauseHeld(stack, a, "a");
    // The lock manager frees the paused run's lock a task or two later.
    for (const tab of [a, b]) {
      await waitUntil(async () => (await running(tab)).found === false, { timeout: 10_000, what: "the paused upload to be found not running" });
      assert.deepEqual(await running(tab), { listed: [false], found: false });
    }
    await resume(a, "a");
    const first = await waitOutcome(a, "a");
    assert.ok(first.outcome.result, JSON.stringify(first.outcome));
    assert.deepEqual(await pending(b, namespace), [], "nothing is left to list");
  });
});

test("a queue of the same files in a second tab rejects with UPLOAD_LOCKED while the first runs; each file is sent once", { timeout: 120_000 }, async (t) => {
  // Small files hold no lock of their own: the batch's lock keeps a second
  // run from sending them again.
  await inTwoTabs(t, "lock-batch", async ({ a, b, namespace, mark }) => {
    const files = [1, 2, 3].map((i) => ({ name: `f${i}.bin`, size: 1000 + i, seed: 10 + i }));
    stack.gate.holdAfter(1);
    await startQueue(a, "a", files, { namespace });
    await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "the first queue's second file to be held" });
    await startQueue(b, "b", files, { namespace });
    const second = await waitUntil(async () => (await queued(b, "b")).outcome, { timeout: 30_000, what: "the second queue to end" });
    assert.equal(second.error, "UPLOAD_LOCKED", JSON.stringify(second));
    assert.match(second.message, /running a queue of these files/);
    const batches = await b.evaluate(async (namespace) => {
      const { UploadQueue } = await window.e2e.lib("queue");
      return [...(await UploadQueue.listPending({ namespace }))].map((p) => ({ files: p.files, running: p.running }));
    }, namespace);
    assert.deepEqual(batches, [{ files: 3, running: true }], "the second tab lists the batch as running");
    stack.gate.release();
    const first = await waitUntil(async () => (await queued(a, "a")).outcome, { timeout: 60_000, what: "the first queue to end" });
    assert.deepEqual(first.done.map((f) => f.name).sort(), ["f1.bin", "f2.bin", "f3.bin"], JSON.stringify(first));
    const sent = stack.gate.since(mark).filter((p) => p.state === "done");
    assert.equal(sent.length, 3, `each file once: ${JSON.stringify(sent.map((p) => p.key))}`);
  });
});
