// Cancel: the multipart upload is aborted on the store and the browser
// forgets it, both while parts are in flight and while paused. Runs in every
// engine (E2E_BROWSER).

import assert from "node:assert/strict";

import { assertNoPageErrors, retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, sleep, waitUntil } from "./harness.mjs";
import { cardCount, click, listedPending, openDemo, pickFiles, randomNamespace, shown, waitForStatus, waitReady } from "./demo.mjs";
import { clearPending, pending, waitOutcome } from "./in-page.mjs";
import { assertNothingLeft, pauseHeld, pickAndHold, startAndHold, useStack } from "./steps.mjs";

const PART = 5 * MIB;

const stack = useStack("abort");
const test = retriedOnEngineFault(() => ({ stack }));

async function assertGone(tab, namespace, record) {
  // No record in IndexedDB, no multipart upload on the store, and no object.
  await assertNothingLeft(stack, tab, namespace, record);
  assert.equal(await stack.debug.object(record.key), null, "no object is stored");
  // After a reload nothing is offered for resuming.
  await assertNoPageErrors(tab, "no page error before the reload");
  await tab.reload();
  await waitReady(tab);
  const { visible, items } = await listedPending(tab);
  assert.deepEqual({ visible, items }, { visible: false, items: [] });
  assert.equal(await cardCount(tab), 0);
}

test("cancel mid-upload aborts on the store and forgets the upload", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("abort");
  const file = await stack.makeFile("cancel-me.bin", 5 * PART);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace, partSize: PART, concurrency: 2 });

  const record = await pickAndHold(stack, tab, file, namespace, 2); // the upload has a stored record while it runs
  const onStore = (await stack.debug.uploads()).filter((u) => u.key === record.key);
  assert.deepEqual(onStore, [{ key: record.key, uploadId: record.uploadId }], "the upload is in progress on the store");
  assert.equal((await stack.debug.parts(record.key, record.uploadId)).length, 2);

  await click(tab, file.name, "cancel");
  const cancelled = await waitForStatus(tab, file.name, ["cancelled", "error", "done"], 30_000);
  assert.equal(cancelled.status, "cancelled", `after Cancel: ${JSON.stringify(cancelled.error)}`);
  const card = await shown(tab, file.name);
  assert.equal(card.status, "cancelled");
  assert.deepEqual(card.buttons, [], "no pause, resume or cancel button after cancel");
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 10_000, what: "the held part requests to be cancelled" });

  // Nothing more is sent once cancelled.
  const mark = stack.gate.mark();
  stack.gate.release();
  await sleep(1_500);
  assert.deepEqual(stack.gate.since(mark), [], "no part PUT after cancel");

  await assertGone(tab, namespace, record);
  await assertNoPageErrors(tab);
});

test("cancel while paused aborts on the store and forgets the upload", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("abort-paused");
  const file = await stack.makeFile("cancel-paused.bin", 4 * PART + 1);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace, partSize: PART, concurrency: 2 });

  await pickAndHold(stack, tab, file, namespace, 1);
  await click(tab, file.name, "pause");
  const paused = await waitForStatus(tab, file.name, ["paused", "error", "done"], 15_000);
  assert.equal(paused.status, "paused", `after Pause: ${JSON.stringify(paused.error)}`);
  stack.gate.release();
  const record = (await pending(tab, namespace)).find((p) => p.fileName === file.name);
  assert.ok(record, "the paused upload has a stored record");
  assert.equal((await stack.debug.uploads()).filter((u) => u.key === record.key).length, 1);

  await click(tab, file.name, "cancel");
  const cancelled = await waitForStatus(tab, file.name, ["cancelled", "error", "done"], 30_000);
  assert.equal(cancelled.status, "cancelled", `after Cancel: ${JSON.stringify(cancelled.error)}`);

  await assertGone(tab, namespace, record);
  await assertNoPageErrors(tab);
});

test("Cancel pressed while the store completes the upload: the card says done, not a failed cancel", { timeout: 120_000 }, async () => {
  const namespace = randomNamespace("cancel-late");
  const file = await stack.makeFile("cancel-late.bin", 2 * PART + 3);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace, partSize: PART });
  let release;
  const held = stack.gate.injectRequest(
    { method: "POST", query: "uploadId", keySuffix: file.name },
    { holdAnswer: new Promise((resolve) => (release = resolve)) },
  );
  await pickFiles(tab, file.path);
  await held.answered; // the store completed it
  await click(tab, file.name, "cancel");
  release();
  // Before, ALREADY_COMPLETED was shown as "cancelling failed", with Retry and Cancel.
  const ended = await waitForStatus(tab, file.name, ["done", "error", "cancelled"], 30_000);
  assert.equal(ended.status, "done", JSON.stringify(ended.error));
  assert.deepEqual((await shown(tab, file.name)).buttons, [], "nothing to retry or cancel");
  const object = await stack.debug.object(ended.result?.key ?? "");
  assert.equal(object?.sha256, file.sha256, "the object is the file");
  await assertNoPageErrors(tab);
});

/**
 * Opens the demo in `tab` and starts run `run`: a file of 3 parts in a fresh
 * namespace of `label`, one part at a time, the second part held. Answers
 * `{ namespace, name, record }` (the stored record, one part done).
 */
async function startThreeParts(tab, run, label) {
  const namespace = randomNamespace(label);
  await openDemo(stack, tab);
  const name = `${namespace}.bin`;
  const spec = { file: { name, size: 3 * PART }, options: { namespace, concurrency: 1 } };
  return { namespace, name, record: await startAndHold(stack, tab, run, spec, 1) };
}

test("abort() called again while the first is under way shares its outcome (a double-clicked Cancel)", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  // Part 2 is held: a run left free may complete before its record is read.
  const { namespace, name, record } = await startThreeParts(tab, "twice", "abort-twice");
  // The store takes 3 s to abort: longer than a lock's hand-over is waited for.
  let release;
  const held = stack.gate.injectRequest(
    { method: "DELETE", query: "uploadId", keySuffix: name },
    { holdAnswer: new Promise((resolve) => (release = resolve)) },
  );
  const both = tab.evaluate(async () => {
    const { upload } = window.e2e.runs.twice;
    const outcome = (p) => p.then(() => "aborted", (e) => e.code);
    return Promise.all([outcome(upload.abort()), outcome(upload.abort())]);
  });
  await held.answered;
  await sleep(3_000);
  release();
  // Before, the second rejected with UPLOAD_LOCKED ("another tab…") after 2 s.
  assert.deepEqual(await both, ["aborted", "aborted"]);
  stack.gate.release();
  assert.equal((await waitOutcome(tab, "twice", 30_000)).outcome.error?.code, "ABORTED", "the run's start()");
  assert.equal(await tab.evaluate(() => window.e2e.runs.twice.upload.start().catch((e) => e.code)), "ABORTED", "a start() after");
  await assertNothingLeft(stack, tab, namespace, record);
  await assertNoPageErrors(tab);
});

test("abort() and the lookups while IndexedDB cannot be opened reject with STORAGE and delete nothing: the upload stays, to abort again", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const { namespace, record } = await startThreeParts(tab, "noidb", "abort-noidb");
  await pauseHeld(stack, tab, "noidb");
  // IndexedDB stops answering (patched as the page's own code: Firefox runs
  // WebDriver's scripts apart), then the upload is cancelled.
  const code = await tab.evaluate(async () => {
    const script = document.createElement("script");
    script.textContent = "IDBFactory.prototype.open = () => ({});";
    document.head.append(script);
    script.remove();
    return window.e2e.runs.noidb.upload.abort().then(() => "aborted", (e) => e.code);
  });
  // Before, abort() resolved: nothing aborted, and the page told it was.
  assert.equal(code, "STORAGE");
  assert.ok((await stack.debug.uploads()).some((u) => u.uploadId === record.uploadId), "still on the store");
  // The lookups say so too (before, they answered none: [], 0 and null,
  // and the record stayed). IndexedDB now refuses at once.
  const lookups = await tab.evaluate(async (namespace) => {
    const script = document.createElement("script");
    script.textContent = 'IDBFactory.prototype.open = () => { throw new DOMException("denied", "SecurityError"); };';
    document.head.append(script);
    script.remove();
    const { Upload } = await window.e2e.lib("pending");
    const code = (p) => p.then((v) => `resolved ${JSON.stringify(v)}`, (e) => e.code);
    return {
      list: await code(Upload.listPending({ namespace })),
      clear: await code(Upload.clearPending({ namespace })),
      find: await code(Upload.findPrevious(window.e2e.runs.noidb.source, { namespace })),
      queues: await code((await window.e2e.lib("queue")).UploadQueue.listPending({ namespace })),
    };
  }, namespace);
  assert.deepEqual(lookups, { list: "STORAGE", clear: "STORAGE", find: "STORAGE", queues: "STORAGE" });
  await tab.reload();
  await waitReady(tab);
  assert.ok((await pending(tab, namespace)).some((p) => p.uploadId === record.uploadId), "its record is kept");
  await clearPending(tab, namespace);
  assert.ok(!(await stack.debug.uploads()).some((u) => u.uploadId === record.uploadId), "aborted once IndexedDB answers");
});
