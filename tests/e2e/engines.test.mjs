// What must hold in every engine (E2E_BROWSER: chromium, firefox, webkit,
// wpe), against Garage behind the store gate: uploads byte-identical with
// checksums on and off, a reload then a resume with the part PUTs counted,
// pause and resume, abort leaving nothing behind, verified resume catching
// changed content, two tabs on one file, IndexedDB unavailable, a streaming
// source across a reload, and faults from the store gate.
//
// Written against the tab interface of browsers.mjs only: the gate counts
// the PUTs, the page reports what the library told it.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, afterEach, before } from "node:test";

import { retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, log, sleep, startStack, waitUntil } from "./harness.mjs";
import { click, listedPending, listPending, openDemo, pickFiles, randomNamespace, range, shown, waitDone, waitForStatus, waitPartsDone, waitReady } from "./demo.mjs";
import { installHelpers, pageActivity, pending, report, resume, startUpload, waitOutcome, waitStored } from "./in-page.mjs";
import { pauseHeld, startAndHold } from "./steps.mjs";

const PART = 5 * MIB;

let stack;
let tab;
const test = retriedOnEngineFault(() => ({ stack, tab }));
before(async () => {
  stack = await startStack({ label: `engines-${process.env.E2E_BROWSER || "chromium"}` });
  tab = stack.tab;
});
after(async () => {
  await stack?.stop();
});
afterEach(async () => {
  stack.gate.release();
  // The WebDriver engines gather a page's errors when asked (tab.errors()).
  await tab.errors?.();
  const errors = stack.browser.errors.splice(0);
  assert.deepEqual(errors, [], `${stack.browserName} reported page errors`);
});

/** The gate's part PUTs since `mark` that the store took, by part number. */
function storedSince(mark) {
  return stack.gate
    .since(mark)
    .filter((p) => p.state === "done")
    .map((p) => p.partNumber)
    .sort((a, b) => a - b);
}

async function assertObject(key, sha256, size) {
  const object = await stack.debug.object(key);
  assert.ok(object, `no object stored at ${key}`);
  assert.equal(object.sha256, sha256, "the stored object is the file, byte for byte");
  if (size !== undefined) assert.equal(object.size, size);
}

/** Nothing left of the upload: no record in the page, no multipart upload on the store. */
async function assertNothingLeft(namespace, uploadId) {
  assert.deepEqual(await pending(tab, namespace), [], "no record is left in the browser");
  const left = (await stack.debug.uploads()).filter((u) => u.uploadId === uploadId);
  assert.deepEqual(left, [], "no multipart upload is left on the store");
}

/** Opens the demo, picks `file`, lets `k` parts through and holds the next. */
async function pickAndHold(file, namespace, k) {
  await openDemo(stack, tab, { namespace, partSize: PART, concurrency: 2 });
  const mark = stack.gate.mark();
  stack.gate.holdAfter(k);
  await pickFiles(tab, file.path);
  await waitUntil(() => stack.gate.completedCount(mark) >= k && stack.gate.heldOpen() >= 1, {
    timeout: 60_000,
    what: `${k} parts stored and a later one in flight`,
  });
  await waitPartsDone(tab, file.name, k, 30_000);
  return waitUntil(async () => (await listPending(tab, namespace)).find((p) => p.fileName === file.name && p.partsDone >= k), {
    timeout: 10_000,
    what: `the stored record to count ${k} parts done`,
  });
}

test("a file picked from disk uploads byte-identical, each part once, with checksums hashed by the hash worker", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("pick");
  const file = await stack.makeFile("engine pick.bin", 3 * PART + 5);
  await openDemo(stack, tab, { namespace, partSize: PART, concurrency: 2 });
  await installHelpers(tab); // watches the workers and console warnings from here
  const mark = stack.gate.mark();
  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name, 120_000);
  assert.match(done.result.checksumSha256 ?? "", /^[A-Za-z0-9+/]{43}=-4$/, "the object's composite SHA-256, checked by the store");
  assert.deepEqual(storedSince(mark), [1, 2, 3, 4], "each part reached the store once");
  await assertObject(done.result.key, file.sha256, file.size);
  await assertNothingLeft(namespace, done.result.uploadId);
  const activity = await pageActivity(tab);
  assert.equal(activity.workers.length, 1, `the hash worker started: ${JSON.stringify(activity.workers)}`);
  assert.match(activity.workers[0], /\/hash_worker\.js$/);
  assert.deepEqual(activity.consoleWarnings, [], "no fallback to hashing on the page's thread");
});

test("checksum: \"none\" uploads byte-identical without checksums", { timeout: 120_000 }, async () => {
  const namespace = randomNamespace("plain");
  await openDemo(stack, tab, { namespace });
  const { sha256 } = await startUpload(tab, "plain", { file: { name: "plain.bin", size: 2 * PART + 3 }, options: { namespace, checksum: "none", concurrency: 2 } });
  const run = await waitOutcome(tab, "plain");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(run.outcome.result.checksumSha256, undefined);
  assert.deepEqual(run.warnings, []);
  await assertObject(run.outcome.result.key, sha256, 2 * PART + 3);
  await assertNothingLeft(namespace, run.outcome.result.uploadId);
});

test("a reload mid-upload, then the same file picked again: only the missing parts are sent", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("reload");
  const K = 2;
  const file = await stack.makeFile("engine-resume.bin", 5 * PART + 123); // 6 parts
  const record = await pickAndHold(file, namespace, K);
  await tab.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held parts" });
  stack.gate.release();
  await waitReady(tab);
  const stored = (await stack.debug.parts(record.key, record.uploadId)).map((p) => p.PartNumber).sort((a, b) => a - b);
  assert.equal(stored.length, K);

  const listed = await listedPending(tab);
  if (!listed.visible) {
    // Seen once in WPE 2.38 (not again in six runs): say what the page and
    // the records held.
    const now = await listPending(tab, namespace).catch((e) => `it failed: ${e.message}`);
    assert.fail(`the page lists no unfinished upload (notices: ${JSON.stringify(listed.notices)}; Upload.listPending now: ${JSON.stringify(now)})`);
  }
  assert.deepEqual(listed.items.map((i) => i.fileName), [file.name]);
  assert.match(listed.items[0].text, new RegExp(`${K} of 6 parts`));

  const mark = stack.gate.mark();
  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name, 120_000);
  assert.equal(done.resumed?.skippedParts, K, "onResume: the stored parts are skipped");
  assert.equal(done.result.uploadId, record.uploadId, "the same multipart upload continues");
  assert.deepEqual(
    stack.gate.since(mark).map((p) => p.partNumber).sort((a, b) => a - b),
    range(1, 6).filter((n) => !stored.includes(n)),
    "after the reload, each missing part is sent once and no stored part again",
  );
  await assertObject(record.key, file.sha256, file.size);
  await assertNothingLeft(namespace, record.uploadId);
});

test("pause stops the requests, nothing is sent while paused, resume sends the rest", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("pause");
  const K = 2;
  const file = await stack.makeFile("engine-pause.bin", 4 * PART + 7); // 5 parts
  const start = stack.gate.mark();
  const record = await pickAndHold(file, namespace, K);
  // Which K parts got through depends on the order they reached the gate.
  const storedFirst = storedSince(start);
  assert.equal(storedFirst.length, K, JSON.stringify(storedFirst));
  await click(tab, file.name, "pause");
  const paused = await waitForStatus(tab, file.name, ["paused", "error", "done"], 15_000);
  assert.equal(paused.status, "paused", JSON.stringify(paused.error));
  assert.deepEqual((await shown(tab, file.name)).buttons.sort(), ["cancel", "resume"]);
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 10_000, what: "pause() to cancel the held requests" });

  const mark = stack.gate.mark();
  stack.gate.release();
  await sleep(1_500);
  assert.deepEqual(stack.gate.since(mark), [], "no part PUT while paused");

  await click(tab, file.name, "resume");
  const done = await waitDone(tab, file.name, 120_000);
  assert.equal(done.result.uploadId, record.uploadId);
  assert.deepEqual(storedSince(mark), range(1, 5).filter((n) => !storedFirst.includes(n)), "only the missing parts, each once");
  await assertObject(record.key, file.sha256, file.size);
  await assertNothingLeft(namespace, record.uploadId);
});

test("cancel mid-upload aborts on the store and leaves nothing behind", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("cancel");
  const file = await stack.makeFile("engine-cancel.bin", 4 * PART);
  const record = await pickAndHold(file, namespace, 1);
  await click(tab, file.name, "cancel");
  const cancelled = await waitForStatus(tab, file.name, ["cancelled", "error", "done"], 30_000);
  assert.equal(cancelled.status, "cancelled", JSON.stringify(cancelled.error));
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 10_000, what: "cancel to drop the held requests" });
  const mark = stack.gate.mark();
  stack.gate.release();
  await sleep(1_000);
  assert.deepEqual(stack.gate.since(mark), [], "no part PUT after cancel");
  await assertNothingLeft(namespace, record.uploadId);
  assert.equal(await stack.debug.object(record.key), null, "no object is stored");
  await tab.reload();
  await waitReady(tab);
  assert.deepEqual((await listedPending(tab)).items, [], "nothing is offered for resuming after a reload");
});

/**
 * Starts run `name` of `spec` in a freshly loaded page, lets `k` parts
 * through, and reloads once the record counts them; answers the record.
 */
async function storeThenReload(name, spec, namespace, k) {
  await openDemo(stack, tab, { namespace });
  stack.gate.holdAfter(k);
  await startUpload(tab, name, spec);
  const record = await waitStored(tab, name, namespace, k);
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "a later part in flight" });
  await tab.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held parts" });
  stack.gate.release();
  await waitReady(tab);
  return record;
}

test("verified resume: new bytes under the same name, size and date restart the upload, never mixed", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("verify");
  const file = { name: "edited.bin", size: 4 * PART + 9 };
  const old = await storeThenReload("first", { file, options: { namespace, concurrency: 1 } }, namespace, 2);
  // A byte of part 2 changes, away from the content sample (first, middle
  // and last 64 KiB): only the part checksums the store holds can tell.
  const edited = { ...file, flip: [PART + 12345] };
  const { sha256 } = await startUpload(tab, "edited", { file: edited, options: { namespace, concurrency: 2 } });
  const run = await waitOutcome(tab, "edited");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.restarts, ["file-changed"]);
  assert.notEqual(run.outcome.result.uploadId, old.uploadId, "a fresh multipart upload");
  await assertObject(run.outcome.result.key, sha256, file.size);
  await assertNothingLeft(namespace, old.uploadId);
});

test("a streaming source that fills one buffer for every read: each part is stored with its own bytes", { timeout: 180_000 }, async () => {
  // Parts are read several at once; before, bytes given at once were
  // copied only after an await, by when the next read had filled the
  // buffer again: parts held other parts' bytes, and their checksums
  // agreed with them.
  const namespace = randomNamespace("reuse");
  await openDemo(stack, tab, { namespace });
  const spec = { file: { stream: { id: "reused-buffer", size: 4 * PART + 99, seed: 11, reuse: true } }, options: { namespace, concurrency: 4, checksum: "sha256" } };
  const { sha256 } = await startUpload(tab, "reuse", spec);
  const run = await waitOutcome(tab, "reuse");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  await assertObject(run.outcome.result.key, sha256, 4 * PART + 99);
});

test("a streaming source resumes across a reload, sending only the missing parts", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("stream");
  const spec = { file: { stream: { id: "report-9", size: 4 * PART + 99, seed: 9 } }, options: { namespace, concurrency: 2 } };
  const old = await storeThenReload("stream", spec, namespace, 2);
  const stored = (await stack.debug.parts(old.key, old.uploadId)).map((p) => p.PartNumber);
  const mark = stack.gate.mark();
  const { sha256 } = await startUpload(tab, "stream", spec);
  const run = await waitOutcome(tab, "stream");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.restarts, []);
  assert.equal(run.resumes[0]?.skippedParts, stored.length);
  assert.equal(run.outcome.result.uploadId, old.uploadId);
  assert.deepEqual(storedSince(mark), range(1, 5).filter((n) => !stored.includes(n)), "only the missing parts are sent");
  await assertObject(old.key, sha256, 4 * PART + 99);
  await assertNothingLeft(namespace, old.uploadId);
});

test("two tabs on one file: the second gets UPLOAD_LOCKED, every part is stored once", { timeout: 180_000 }, async (t) => {
  const namespace = randomNamespace("tabs");
  const spec = { file: { name: "two-tabs.bin", size: 4 * PART + 11 }, options: { namespace, concurrency: 1 } };
  await openDemo(stack, tab, { namespace });
  const other = await stack.browser.newTab();
  if (!other) return t.skip(`${stack.browserName}'s driver cannot open a second tab (it answers with the same window)`);
  try {
    await openDemo(stack, other, { namespace });
    const mark = stack.gate.mark();
    stack.gate.holdAfter(2);
    const { sha256 } = await startUpload(tab, "a", spec);
    await waitUntil(() => stack.gate.heldOpen() === 1, { timeout: 30_000, what: "the first tab's third part to be held" });
    await startUpload(other, "b", spec);
    const second = await waitOutcome(other, "b", 30_000);
    assert.equal(second.outcome.error?.code, "UPLOAD_LOCKED", JSON.stringify(second.outcome));
    stack.gate.release();
    const first = await waitOutcome(tab, "a");
    assert.ok(first.outcome.result, JSON.stringify(first.outcome.error));
    assert.deepEqual(storedSince(mark), [1, 2, 3, 4, 5], "each part reached the store once");
    await assertObject(first.outcome.result.key, sha256);
  } finally {
    await other.close();
  }
});

test("without IndexedDB the upload completes from memory, pauses and resumes, and warns once", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("noidb");
  await openDemo(stack, tab, { namespace });
  await installHelpers(tab);
  await tab.evaluate(() => {
    IDBFactory.prototype.open = function () {
      throw new DOMException("The user denied permission to access the database.", "SecurityError");
    };
  });
  // Part 2 is held, so that the pause comes mid-upload in every engine
  // (unheld, a fast engine could finish before the pause reached it). The
  // pending build: its findPrevious sees the record the run keeps in memory.
  const spec = { file: { name: "no-storage.bin", size: 3 * PART + 9 }, options: { namespace, concurrency: 1 }, build: "pending" };
  await startAndHold(stack, tab, "memory", spec, 1);
  await pauseHeld(stack, tab, "memory");
  await resume(tab, "memory");
  const run = await waitOutcome(tab, "memory");
  const { sha256 } = run;
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(run.resumes.length, 1, "start() after pause() resumed from the record in memory");
  assert.ok(run.resumes[0].skippedParts >= 1);
  assert.deepEqual(run.warnings, ["STORAGE_UNAVAILABLE"]);
  await assertObject(run.outcome.result.key, sha256, 3 * PART + 9);
  // IndexedDB back for the next test, once the page has read it: in WPE
  // 2.38, navigating away while the reloaded page's load-time IndexedDB
  // work was in flight left IndexedDB unanswering for the next page (3 of
  // 25 runs of this test and the next with one build, none once waited).
  await tab.reload();
  await waitReady(tab);
});

test("faults from the store gate (500, a cut connection) are retried; the object is whole", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("faults");
  await openDemo(stack, tab, { namespace });
  const mark = stack.gate.mark();
  stack.gate.inject(2, { status: 500, body: "<Error><Code>InternalError</Code></Error>" });
  stack.gate.inject(3, { reset: 1 * MIB });
  const { sha256 } = await startUpload(tab, "faulty", {
    file: { name: "faulty.bin", size: 3 * PART + 777 },
    options: { namespace, concurrency: 2, retryDelays: [0, 100, 100] },
    events: ["onWarning"],
  });
  const run = await waitOutcome(tab, "faulty");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  const puts = stack.gate.since(mark);
  assert.deepEqual(puts.filter((p) => p.partNumber === 2).map((p) => p.status), [500, 200]);
  // Cut (twice where the browser sent it again itself: store-gate.mjs), then stored.
  const part3 = puts.filter((p) => p.partNumber === 3).map((p) => p.fault);
  assert.ok(part3.length >= 2 && part3.at(-1) === null && part3.slice(0, -1).every((f) => f === "reset"), JSON.stringify(part3));
  await assertObject(run.outcome.result.key, sha256, 3 * PART + 777);
  const { warnings, events } = await report(tab, "faulty");
  assert.deepEqual(warnings, [], `no warnings: ${JSON.stringify(events.onWarning)}`);
});

test("a file over 4 GiB: parts past 4 GiB are read and hashed by every path (worker WebCrypto, worker sha2, the page)", { timeout: 240_000 }, async () => {
  // WebKit's Blob.stream() throws NotReadableError on files of 4 GiB or
  // more (WebKit bug 272600): resupload reads with slice() + arrayBuffer().
  const GIB = 1024 * MIB;
  const big = path.join(stack.filesDir, "sparse-over-4GiB.bin");
  await fsp.writeFile(big, "");
  await fsp.truncate(big, 4 * GIB + 64 * MIB); // zeros, taking no disk space
  // Random bytes where the slices below are read (76 MiB on disk): over
  // zeros, a part read at the wrong offset would store the same object.
  const handle = await fsp.open(big, "r+");
  try {
    for (let at = 4 * GIB - 12 * MIB; at < 4 * GIB + 64 * MIB; at += 4 * MIB) await handle.write(randomBytes(4 * MIB), 0, 4 * MIB, at);
  } finally {
    await handle.close();
  }
  const namespace = randomNamespace("big");
  const pickBig = async () => {
    await tab.evaluate(() => {
      const input = document.createElement("input");
      input.type = "file";
      input.id = "big-file";
      document.body.append(input);
    });
    await tab.pickFiles("#big-file", [big]);
  };
  /** Uploads bytes `from..to` of the big file; checks the object. */
  const uploadSlice = async (label, from, to, partSize) => {
    const file = { picked: "#big-file", from, to };
    const { sha256 } = await startUpload(tab, label, { file, options: { namespace, checksum: "sha256", partSize } });
    // The bytes on disk, as Node reads them: the page's own read agrees.
    const bytes = Buffer.alloc(to - from);
    const disk = await fsp.open(big, "r");
    try {
      await disk.read(bytes, 0, bytes.length, from);
    } finally {
      await disk.close();
    }
    assert.equal(sha256, createHash("sha256").update(bytes).digest("hex"), `${label}: the page reads the file's own bytes`);
    const run = await waitOutcome(tab, label, 180_000);
    assert.ok(run.outcome.result, `${label}: ${JSON.stringify(run.outcome.error)}`);
    assert.ok(run.outcome.result.checksumSha256, `${label}: every part was hashed`);
    await assertObject(run.outcome.result.key, sha256, to - from);
  };

  await openDemo(stack, tab, { namespace });
  await pickBig();
  // Whether this engine's Blob.stream() reads past 4 GiB (told, not asserted).
  const stream = await tab.evaluate(async () => {
    const file = document.querySelector("#big-file").files[0];
    try {
      await file.slice(4 * 2 ** 30, 4 * 2 ** 30 + 1024).stream().getReader().read();
      return "reads";
    } catch (e) {
      return `throws ${e.name}`;
    }
  });
  log(`${stack.browserName}: Blob.stream() of a slice past 4 GiB of a ${4 * 1024 + 64} MiB file ${stream}`);
  // 8 MiB parts across the 4 GiB mark: WebCrypto in the hash worker (each
  // of the 3 parts answered by the worker, none hashed on the page).
  await uploadSlice("worker WebCrypto", 4 * GIB - 12 * MIB, 4 * GIB + 12 * MIB, 8 * MIB);
  const byWebCrypto = (await pageActivity(tab)).workerDigests;
  assert.ok(byWebCrypto >= 3, `the worker hashed the 3 parts (${byWebCrypto} digests)`);
  // One 72 MiB part (over 64 MiB): sha2 in the hash worker, in 8 MiB slices.
  await uploadSlice("worker sha2", 4 * GIB - 8 * MIB, 4 * GIB + 64 * MIB, 72 * MIB);
  const worked = await pageActivity(tab);
  assert.equal(worked.workers.length, 1);
  assert.ok(worked.workerDigests > byWebCrypto, "the worker hashed the 72 MiB part");
  assert.deepEqual(worked.consoleWarnings.filter((w) => /hashing on the page's thread/.test(w)), [], "the worker hashed every part");

  // The page's own path, in a fresh page where no worker can start.
  await tab.reload();
  await waitReady(tab);
  await tab.evaluate(() => {
    window.Worker = undefined;
  });
  await pickBig();
  await uploadSlice("page", 4 * GIB - 8 * MIB, 4 * GIB + 8 * MIB, 8 * MIB);
  const { consoleWarnings } = await pageActivity(tab);
  assert.ok(consoleWarnings.some((w) => /hashing on the page's thread/.test(w)), JSON.stringify(consoleWarnings));
});
