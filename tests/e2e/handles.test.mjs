// Resuming after a reload or a browser restart without picking the file
// again: from the file's kept handle (`new Upload(handle)`), or from a copy
// staged in the origin-private file system (`stage: "opfs"`). Runs in every
// engine (E2E_BROWSER): where an engine lacks the origin-private file
// system, or refuses it (WebKit's ephemeral session), the fallback is what
// is tested (a clear NO_HANDLE, a STAGING_SKIPPED or STAGING_FAILED
// warning). Handles come from the origin-private file system: real
// FileSystemFileHandles that need no prompt. The full quota is
// a real one, set through Chromium's DevTools protocol (WebDriver cannot).

import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";

import { AbortMultipartUploadCommand } from "@aws-sdk/client-s3";

import { storeClient } from "./backend-client.mjs";

import { retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, startStack, waitUntil } from "./harness.mjs";
import { openDemo, randomNamespace, range, waitReady } from "./demo.mjs";
import { pauseHeld, reloadMidUpload } from "./steps.mjs";
import {
  canWriteOpfs,
  clearPending,
  installHelpers,
  keptEntry,
  opfsState,
  pause,
  pending,
  report,
  resume,
  resumePending,
  stagedCopies,
  startUpload,
  waitOutcome,
  waitStored,
  writeOpfsFile,
} from "./in-page.mjs";

const PART = 5 * MIB;
const SIZE = 4 * PART + 33; // 5 parts

let stack;
let tab;
const test = retriedOnEngineFault(() => ({ stack, tab }));
let hasOpfs;
/**
 * The origin-private file system here: "works", "refused" (it is there but
 * `getDirectory()` rejects, as in a private window: WebKitGTK's ephemeral
 * WebDriver session) or "none".
 */
let opfs;
before(async () => {
  stack = await startStack({ label: `handles-${process.env.E2E_BROWSER || "chromium"}` });
  tab = stack.tab;
  await openDemo(stack, tab);
  opfs = await opfsState(tab);
  // Handles are made by writing files from the page.
  hasOpfs = await canWriteOpfs(tab, opfs);
});
after(async () => {
  await stack?.stop();
});
afterEach(() => {
  stack.gate.release();
});

/** Whether the browser keeps its profile across `restart()` (WebKit's automation sessions are ephemeral). */
function restarts() {
  return ["chromium", "firefox"].includes(stack.browserName);
}

/** Starts run `name`, lets `k` parts through, and reloads once the record counts them. */
async function interrupt(name, spec, namespace, k) {
  stack.gate.holdAfter(k);
  await startUpload(tab, name, spec);
  const record = await waitStored(tab, name, namespace, k);
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "a later part in flight" });
  return record;
}

/** Reloads (and where it can, closes and reopens the browser on the same profile). */
async function reloadAndRestart(namespace) {
  await tab.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held parts" });
  stack.gate.release();
  if (restarts()) {
    tab = await stack.browser.restart();
    stack.tab = tab;
  }
  await openDemo(stack, tab, { namespace });
}

async function assertStoredAndGone(key, sha256, size, namespace) {
  const object = await stack.debug.object(key);
  assert.equal(object?.sha256, sha256, "the stored object is the file, byte for byte");
  assert.equal(object.size, size);
  assert.deepEqual(await pending(tab, namespace), [], "no record left");
  assert.deepEqual(await stagedCopies(tab), [], "no staged copy left");
  const kept = await tab.evaluate(() => window.e2e.idb((db, requested) => requested(db.transaction("handles").objectStore("handles").getAllKeys())));
  assert.deepEqual(kept, [], "nothing kept to continue without picking");
}

test("an upload from a file handle survives a reload and a restart, and resumes without picking", { timeout: 240_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const namespace = randomNamespace("handle");
  await openDemo(stack, tab, { namespace });
  assert.equal(await writeOpfsFile(tab, "handle-source.bin", SIZE, 41), true);
  const old = await interrupt("first", { file: { opfs: "handle-source.bin" }, options: { namespace, concurrency: 1 } }, namespace, 2);
  await reloadAndRestart(namespace);

  const [entry] = await pending(tab, namespace);
  assert.equal(entry?.canResumeWithoutPicking, true, JSON.stringify(entry));
  assert.equal(entry.resumeFrom, "handle");
  const mark = stack.gate.mark();
  const resumed = await resumePending(tab, "again", "handle-source.bin", namespace);
  assert.equal(resumed.error, undefined, JSON.stringify(resumed.error));
  const run = await waitOutcome(tab, "again");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(run.outcome.result.uploadId, old.uploadId, "the same multipart upload continues");
  assert.equal(run.resumes[0]?.skippedParts, 2);
  assert.deepEqual(
    stack.gate.since(mark).filter((p) => p.state === "done").map((p) => p.partNumber).sort((a, b) => a - b),
    range(3, 5),
    "only the missing parts are sent",
  );
  const sha256 = await tab.evaluate(async () => {
    const file = await (await (await navigator.storage.getDirectory()).getFileHandle("handle-source.bin")).getFile();
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  });
  await assertStoredAndGone(old.key, sha256, SIZE, namespace);
});

test("an upload from a file handle that restarts (its server upload gone) keeps its handle: it still resumes without picking", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const namespace = randomNamespace("handle-restart");
  await openDemo(stack, tab, { namespace });
  assert.equal(await writeOpfsFile(tab, "handle-restart.bin", SIZE, 43), true);
  const spec = { file: { opfs: "handle-restart.bin" }, options: { namespace, concurrency: 1 } };
  const old = await interrupt("first", spec, namespace, 2);
  await pauseHeld(stack, tab, "first");
  // The store loses the upload (a lifecycle rule, an operator's cleanup).
  const store = storeClient(stack.storeEnv);
  await store.send(new AbortMultipartUploadCommand({ Bucket: stack.storeEnv.S3_BUCKET, Key: old.key, UploadId: old.uploadId }));
  store.destroy();
  // The next start finds it gone and starts afresh, from the same handle.
  stack.gate.holdAfter(1);
  await resume(tab, "first");
  const entry = await waitUntil(
    async () => (await pending(tab, namespace)).find((p) => p.uploadId !== old.uploadId && p.partsDone >= 1),
    { timeout: 60_000, what: "the fresh upload to store a part" },
  );
  const run = await pauseHeld(stack, tab, "first");
  assert.deepEqual(run.restarts, ["expired"]);
  assert.equal(entry.resumeFrom, "handle", JSON.stringify(entry));
  assert.deepEqual(await keptEntry(tab, entry.id), { kind: "picked", handle: "object" });
  await clearPending(tab, namespace);
});

test("a changed file behind the handle is detected (FILE_CHANGED) and never mixed", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const namespace = randomNamespace("changed");
  await openDemo(stack, tab, { namespace });
  await writeOpfsFile(tab, "changing.bin", SIZE, 42);
  const old = await interrupt("first", { file: { opfs: "changing.bin" }, options: { namespace, concurrency: 1 } }, namespace, 1);
  await reloadMidUpload(stack, tab);
  await writeOpfsFile(tab, "changing.bin", SIZE, 43); // new bytes, and a new date
  const mark = stack.gate.mark();
  const resumed = await resumePending(tab, "again", "changing.bin", namespace);
  assert.equal(resumed.error?.code, "FILE_CHANGED", JSON.stringify(resumed));
  assert.deepEqual(stack.gate.since(mark), [], "nothing was sent");
  const parts = await stack.debug.parts(old.key, old.uploadId);
  assert.equal(parts.length, 1, "the old upload is untouched, for the page to decide");
  await clearPending(tab, namespace);
});

test("an Upload from a file handle reads it again at each start(): a file changed while paused gets FILE_CHANGED, and nothing is sent", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const namespace = randomNamespace("edited");
  await openDemo(stack, tab, { namespace });
  await writeOpfsFile(tab, "edited.bin", SIZE, 50);
  await interrupt("first", { file: { opfs: "edited.bin" }, options: { namespace, concurrency: 1 } }, namespace, 1);
  await pause(tab, "first");
  assert.equal((await waitOutcome(tab, "first", 30_000)).outcome.error?.code, "PAUSED");
  stack.gate.release();
  await writeOpfsFile(tab, "edited.bin", SIZE, 51); // new bytes, and a new date
  const mark = stack.gate.mark();
  for (const attempt of [1, 2]) {
    await resume(tab, "first");
    const run = await waitOutcome(tab, "first");
    // Before, the File read at the first start() was used again: READ_FAILED.
    assert.equal(run.outcome.error?.code, "FILE_CHANGED", `start() ${attempt}: ${JSON.stringify(run.outcome)}`);
  }
  assert.deepEqual(stack.gate.since(mark), [], "nothing was sent");
  await clearPending(tab, namespace);
});

/**
 * Starts an upload from a handle to file `label`.bin, lets one part through
 * and reloads; then resumes it from its listed entry (`resumePending`,
 * which asks for read permission) with the page's permission calls as
 * `prompt` defines them: script text run in the page, given `proto`, the
 * handles' prototype.
 */
async function resumeThroughPrompt(label, seed, prompt) {
  const { namespace, file } = await interruptedFromHandle(label, seed);
  await tab.evaluate((prompt) => {
    const script = document.createElement("script");
    script.textContent = `{
      const proto = (globalThis.FileSystemHandle || globalThis.FileSystemFileHandle).prototype;
      ${prompt}
    }`;
    document.head.append(script);
  }, prompt);
  const mark = stack.gate.mark();
  const resumed = await resumePending(tab, "again", file, namespace);
  return { namespace, mark, resumed };
}

/**
 * Starts an upload from a handle to file `label`.bin (bytes of `seed`),
 * lets one part through and reloads: answers `{ namespace, file }`.
 */
async function interruptedFromHandle(label, seed) {
  const namespace = randomNamespace(label);
  const file = `${label}.bin`;
  await openDemo(stack, tab, { namespace });
  await writeOpfsFile(tab, file, SIZE, seed);
  await interrupt("first", { file: { opfs: file }, options: { namespace, concurrency: 1 } }, namespace, 1);
  await reloadMidUpload(stack, tab);
  return { namespace, file };
}

/**
 * A permission prompt a person answers "granted" after `answerMs` of page
 * time, or never (null). From the permission's first query until the
 * answer, the page's timers run 100 times faster, so a minute of a
 * person's reading passes in 0.6 s.
 */
function slowPrompt(answerMs) {
  return `
    const realSetTimeout = globalThis.setTimeout;
    proto.queryPermission = async () => {
      globalThis.setTimeout = (f, ms, ...rest) => realSetTimeout(f, (ms || 0) / 100, ...rest);
      return "prompt";
    };
    proto.requestPermission = () => new Promise((resolve) => {
      const answerMs = ${answerMs};
      if (answerMs === null) return;
      realSetTimeout(() => {
        globalThis.setTimeout = realSetTimeout;
        resolve("granted");
      }, answerMs / 100);
    });
  `;
}

/** Reloads (which ends any prompt) and forgets the namespace's uploads. */
async function forget(namespace) {
  await tab.reload();
  await waitReady(tab);
  await clearPending(tab, namespace).catch(() => {});
}

test("a refused read permission gets PERMISSION_DENIED, and nothing is sent", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  // The permission state the page reports: asked, and refused.
  const refused = `
    proto.queryPermission = async () => "prompt";
    proto.requestPermission = async () => "denied";
  `;
  const { namespace, mark, resumed } = await resumeThroughPrompt("denied", 44, refused);
  assert.equal(resumed.error?.code, "PERMISSION_DENIED", JSON.stringify(resumed));
  assert.deepEqual(stack.gate.since(mark), []);
  await forget(namespace);
});

test("a permission prompt answered after a minute resumes the upload", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const { namespace, resumed } = await resumeThroughPrompt("slow-prompt", 45, slowPrompt(60_000));
  assert.equal(resumed.error, undefined, JSON.stringify(resumed.error));
  const run = await waitOutcome(tab, "again");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(run.resumes[0]?.skippedParts, 1, "the part sent before the reload is kept");
  assert.deepEqual(await pending(tab, namespace), [], "no record left");
});

test("a permission prompt never answered gets PERMISSION_DENIED after 10 minutes, and nothing is sent", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const { namespace, mark, resumed } = await resumeThroughPrompt("no-answer", 46, slowPrompt(null));
  assert.equal(resumed.error?.code, "PERMISSION_DENIED", JSON.stringify(resumed));
  assert.deepEqual(stack.gate.since(mark), [], "nothing was sent");
  await forget(namespace);
});

test("resumePending takes options whose callbacks are methods of a class", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const { namespace } = await interruptedFromHandle("class-options", 49);
  await installHelpers(tab);
  const heard = await tab.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib("pending");
    const [entry] = await Upload.listPending({ namespace });
    const skipped = [];
    class Options {
      get concurrency() {
        return 1;
      }
      onResume(resume) {
        skipped.push(resume.skippedParts);
      }
    }
    await (await Upload.resumePending(entry, new Options())).start();
    return skipped;
  }, namespace);
  assert.deepEqual(heard, [1], "onResume, a method of the options' class, heard the resume");
  assert.deepEqual(await pending(tab, namespace), [], "no record left");
});

test("a file gone from behind its handle gets FILE_MISSING, and nothing is sent", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const namespace = randomNamespace("missing");
  await openDemo(stack, tab, { namespace });
  await writeOpfsFile(tab, "moved.bin", SIZE, 48);
  await interrupt("first", { file: { opfs: "moved.bin" }, options: { namespace, concurrency: 1 } }, namespace, 1);
  await reloadMidUpload(stack, tab);
  await tab.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry("moved.bin"));
  const mark = stack.gate.mark();
  const resumed = await resumePending(tab, "again", "moved.bin", namespace);
  assert.equal(resumed.error?.code, "FILE_MISSING", JSON.stringify(resumed));
  assert.match(resumed.error.message, /pick it again/);
  assert.deepEqual(stack.gate.since(mark), [], "nothing was sent");
  await clearPending(tab, namespace);
});

for (const writer of ["the page", "a worker"]) {
  test(`stage: "opfs", written by ${writer}: a page-made file resumes from its staged copy after a reload and a restart`, { timeout: 240_000 }, async (t) => {
    const inWorker = writer === "a worker";
    if (inWorker && opfs !== "works") return t.skip(`no origin-private file system for the copy worker to write in (${opfs})`);
    // Where the file system works but the page cannot write it, the copy
    // worker would write this one too: nothing "by the page" to test.
    if (!inWorker && opfs === "works" && !hasOpfs) return t.skip("the page cannot write files here (no createWritable)");
    await stagedResume(inWorker);
  });
}

test('stage: "opfs": a start() after a pause keeps the whole copy, never writing it again', { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("the page cannot write files here (no createWritable)");
  const namespace = randomNamespace("staged-again");
  await openDemo(stack, tab, { namespace });
  // Counts the staged copies begun (the page writes them itself here).
  await tab.evaluate(() => {
    const write = FileSystemFileHandle.prototype.createWritable;
    window.copiesBegun = 0;
    FileSystemFileHandle.prototype.createWritable = function (...args) {
      window.copiesBegun += 1;
      return write.apply(this, args);
    };
  });
  const spec = { file: { name: "staged-again.bin", size: SIZE, seed: 47 }, options: { namespace, concurrency: 1, stage: "opfs" } };
  stack.gate.holdAfter(2);
  const { sha256 } = await startUpload(tab, "first", spec);
  const entry = await waitUntil(
    async () => (await pending(tab, namespace)).find((p) => p.canResumeWithoutPicking && p.partsDone >= 2),
    { timeout: 60_000, what: "the staged copy to be kept and 2 parts stored" },
  );
  await pauseHeld(stack, tab, "first");
  await resume(tab, "first");
  const run = await waitOutcome(tab, "first");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(await tab.evaluate(() => window.copiesBegun), 1, "the copy was written once");
  await assertStoredAndGone(entry.key, sha256, SIZE, namespace);
});

// A file changed under the same name, size and date: the copy must be of
// the bytes picked last, whether the change is seen at once (the content
// sample differs), by the verified resume (a stored part differs), or not
// at all (a part not sent yet differs).
const CHANGES = [
  { what: "its content sample differs", file: { seed: 49 }, restarts: ["file-changed"] },
  { what: "a stored part differs outside the sample", file: { seed: 48, flip: [PART + 12_345] }, restarts: ["file-changed"] },
  { what: "a part not sent yet differs", file: { seed: 48, flip: [3 * PART + 12_345] }, restarts: [] },
];
for (const change of CHANGES) {
  test(`stage: "opfs": a changed file of the same name, size and date (${change.what}) gets a copy of its own bytes, never the old copy`, { timeout: 180_000 }, async (t) => {
    if (!hasOpfs) return t.skip("the page cannot write files here (no createWritable)");
    const namespace = randomNamespace("staged-changed");
    await openDemo(stack, tab, { namespace });
    const options = { namespace, concurrency: 1, stage: "opfs" };
    stack.gate.holdAfter(2);
    await startUpload(tab, "old", { file: { name: "same.bin", size: SIZE, seed: 48 }, options });
    const old = await waitUntil(
      async () => (await pending(tab, namespace)).find((p) => p.canResumeWithoutPicking && p.partsDone >= 2),
      { timeout: 60_000, what: "the old bytes' copy to be kept and 2 parts stored" },
    );
    await pauseHeld(stack, tab, "old");
    stack.gate.holdAfter(2);
    const { sha256 } = await startUpload(tab, "new", { file: { name: "same.bin", size: SIZE, ...change.file }, options });
    const copied = () =>
      tab.evaluate(async (id) => {
        const root = await navigator.storage.getDirectory();
        const dir = await root.getDirectoryHandle("resupload-staging");
        const file = await (await dir.getFileHandle(id)).getFile();
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
        return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      }, old.id);
    // Before, a copy kept on its size and sample stayed the old bytes.
    await waitUntil(async () => (await copied().catch(() => null)) === sha256, {
      timeout: 60_000,
      what: "the staged copy to hold the new bytes",
    });
    // After a restart, once the fresh upload's record is made.
    const restarts = change.restarts.length > 0;
    const entry = await waitUntil(
      async () => (await pending(tab, namespace)).find((p) => p.id === old.id && (p.uploadId !== old.uploadId) === restarts),
      { timeout: 60_000, what: `the record of the ${restarts ? "restarted" : "resumed"} upload` },
    );
    assert.equal(entry.resumeFrom, "copy", JSON.stringify(entry));
    await pauseHeld(stack, tab, "new");
    assert.deepEqual((await report(tab, "new")).restarts, change.restarts);
    await clearPending(tab, namespace);
  });
}

test('a start without stage: "opfs" forgets the copy an earlier upload made (it may be of other bytes)', { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("the page cannot write files here (no createWritable)");
  const namespace = randomNamespace("staged-dropped");
  await openDemo(stack, tab, { namespace });
  const file = { name: "dropped.bin", size: SIZE, seed: 50 };
  stack.gate.holdAfter(2);
  await startUpload(tab, "staged", { file, options: { namespace, concurrency: 1, stage: "opfs" } });
  const old = await waitUntil(
    async () => (await pending(tab, namespace)).find((p) => p.canResumeWithoutPicking && p.partsDone >= 2),
    { timeout: 60_000, what: "the copy to be kept and 2 parts stored" },
  );
  await pauseHeld(stack, tab, "staged");
  stack.gate.holdAfter(1);
  await startUpload(tab, "plain", { file: { ...file, flip: [3 * PART + 12_345] }, options: { namespace, concurrency: 1 } });
  // Before, the copy stayed, and a resume from it would send its bytes.
  const entry = await waitUntil(
    async () => (await pending(tab, namespace)).find((p) => p.id === old.id && !p.canResumeWithoutPicking),
    { timeout: 60_000, what: "the copy to be forgotten" },
  );
  assert.equal(entry.uploadId, old.uploadId, "the upload goes on");
  assert.deepEqual(await stagedCopies(tab), []);
  await pauseHeld(stack, tab, "plain");
  await clearPending(tab, namespace);
});

test('stage: "opfs": a copy still being written when the upload completes is not left behind', { timeout: 120_000 }, async (t) => {
  if (!hasOpfs) return t.skip("the page cannot write files here (no createWritable)");
  const namespace = randomNamespace("staged-late");
  await openDemo(stack, tab, { namespace });
  // The copy's one write (a file under its 8 MiB chunk) waits until the
  // test lets it go, once the upload has completed. The copy's end is noted.
  await tab.evaluate(() => {
    const { write, close, abort } = FileSystemWritableFileStream.prototype;
    window.copyEnded = false;
    window.copyWriting = false;
    const mayGo = new Promise((resolve) => (window.letCopyGo = resolve));
    FileSystemWritableFileStream.prototype.write = async function (...args) {
      window.copyWriting = true;
      await mayGo;
      return write.apply(this, args);
    };
    const noteEnd = (method) =>
      async function (...args) {
        try {
          return await method.apply(this, args);
        } finally {
          window.copyEnded = true;
        }
      };
    FileSystemWritableFileStream.prototype.close = noteEnd(close);
    FileSystemWritableFileStream.prototype.abort = noteEnd(abort);
  });
  // The store's answer to the complete waits for the copy's write to
  // begin: the copy and the upload start together, and either may be first.
  let answer;
  const held = stack.gate.injectRequest({ method: "POST", query: "uploadId", keySuffix: "late.bin" }, { holdAnswer: new Promise((resolve) => (answer = resolve)) });
  await startUpload(tab, "late", { file: { name: "late.bin", size: 6 * MIB, seed: 51 }, options: { namespace, stage: "opfs" } });
  await held.answered;
  await waitUntil(() => tab.evaluate(() => window.copyWriting), { timeout: 30_000, what: "the copy's write to begin" });
  answer();
  const done = await waitOutcome(tab, "late");
  assert.ok(done.outcome.result, JSON.stringify(done.outcome.error));
  assert.deepEqual(await tab.evaluate(() => [window.copyWriting, window.copyEnded]), [true, false], "the upload completed while the copy was being written");
  await tab.evaluate(() => window.letCopyGo());
  await waitUntil(() => tab.evaluate(() => window.copyEnded), { timeout: 30_000, what: "the copy's write to end" });
  // Before, the write went on after the run's removal of the copy, and left it whole.
  await waitUntil(async () => (await stagedCopies(tab)).length === 0, { timeout: 5_000, what: "no copy left" });
  await tab.reload();
  await waitReady(tab);
});

/**
 * A staged upload, interrupted and resumed from its copy. With
 * `inWorker`, the page's `createWritable` is hidden first, as in Safari
 * before 26, so that only the copy worker can write the copy.
 */
async function stagedResume(inWorker) {
  const namespace = randomNamespace(inWorker ? "staged-worker" : "staged");
  await openDemo(stack, tab, { namespace });
  if (inWorker) {
    const hidden = await tab.evaluate(() => {
      delete FileSystemFileHandle.prototype.createWritable;
      return typeof FileSystemFileHandle.prototype.createWritable;
    });
    assert.equal(hidden, "undefined", "the page can no longer write files itself");
  }
  const spec = { file: { name: "staged.bin", size: SIZE, seed: 45 }, options: { namespace, concurrency: 1, stage: "opfs" } };
  stack.gate.holdAfter(2);
  const { sha256 } = await startUpload(tab, "first", spec);
  if (opfs !== "works") {
    // Nowhere to copy to: the upload goes on without a copy, and says why
    // (where the file system refuses, the copy worker was asked and failed:
    // WebKit has no createWritable).
    stack.gate.release();
    const run = await waitOutcome(tab, "first");
    assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
    assert.deepEqual(run.warnings, [opfs === "none" ? "STAGING_SKIPPED" : "STAGING_FAILED"]);
    return assertStoredAndGone(run.outcome.result.key, sha256, SIZE, namespace);
  }
  const entry = await waitUntil(
    async () => (await pending(tab, namespace)).find((p) => p.canResumeWithoutPicking && p.partsDone >= 2),
    { timeout: 60_000, what: "the staged copy to be kept and 2 parts stored" },
  );
  assert.equal(entry.resumeFrom, "copy");
  assert.deepEqual(await stagedCopies(tab), [entry.id]);
  // Found again by its name: no handle is stored, which Safari could not.
  assert.deepEqual(await keptEntry(tab, entry.id), { kind: "staged" });
  await reloadAndRestart(namespace);

  const mark = stack.gate.mark();
  const resumed = await resumePending(tab, "again", "staged.bin", namespace);
  assert.equal(resumed.error, undefined, JSON.stringify(resumed.error));
  const run = await waitOutcome(tab, "again");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(run.outcome.result.uploadId, entry.uploadId);
  assert.deepEqual(
    stack.gate.since(mark).filter((p) => p.state === "done").map((p) => p.partNumber).sort((a, b) => a - b),
    range(3, 5),
    "only the missing parts are sent",
  );
  await assertStoredAndGone(entry.key, sha256, SIZE, namespace);
}

test("a staged copy that does not fit the quota: a STAGING_ warning, the upload goes on, no copy is left", { timeout: 120_000 }, async (t) => {
  const namespace = randomNamespace("quota");
  await openDemo(stack, tab, { namespace });
  await installHelpers(tab);
  // A real quota: the origin's usage plus one part, so the records fit and a
  // copy of two parts does not. Chromium's estimate() does not report a
  // DevTools quota, so here the copy itself runs into it (STAGING_FAILED); a
  // browser whose estimate foresees it skips the copy (STAGING_SKIPPED).
  const usage = await tab.evaluate(async () => (navigator.storage?.estimate ? (await navigator.storage.estimate()).usage : null));
  if (usage === null) return t.skip("no navigator.storage in this engine: nothing is staged (the STAGING_SKIPPED test)");
  if (!(await tab.limitQuota(usage + PART))) return t.skip("this engine's driver cannot set a storage quota");
  try {
    const { sha256 } = await startUpload(tab, "tight", {
      file: { name: "too-big-to-stage.bin", size: 2 * PART, seed: 46 },
      options: { namespace, stage: "opfs" },
      events: ["onWarning"],
    });
    const run = await waitOutcome(tab, "tight");
    assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
    const [warning, ...more] = run.events.onWarning;
    assert.deepEqual(more, [], JSON.stringify(run.events.onWarning));
    // Chromium names the overrun QuotaExceededError ("storage is full"),
    // but one fresh-clone run got NotReadableError from the same write of
    // a Blob slice into the copy: either way the copy failed.
    if (warning.code === "STAGING_FAILED") assert.match(warning.message, /storage is full|NotReadableError/);
    else assert.equal(warning.code, "STAGING_SKIPPED");
    await assertStoredAndGone(run.outcome.result.key, sha256, 2 * PART, namespace);
  } finally {
    await tab.limitQuota(null);
  }
  await tab.reload();
  await waitReady(tab);
});

test('stage: "opfs" with a streaming source: STAGING_SKIPPED says no copy is made, and the upload goes on', { timeout: 120_000 }, async () => {
  const namespace = randomNamespace("stage-stream");
  await openDemo(stack, tab, { namespace });
  const { sha256 } = await startUpload(tab, "streamed", {
    file: { stream: { id: namespace, size: 2 * PART + 5, seed: 48 } },
    options: { namespace, stage: "opfs" },
    events: ["onWarning"],
  });
  const run = await waitOutcome(tab, "streamed");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.events.onWarning.map((w) => w.code), ["STAGING_SKIPPED"]);
  assert.match(run.events.onWarning[0].message, /streaming source/);
  await assertStoredAndGone(run.outcome.result.key, sha256, 2 * PART + 5, namespace);
});

test("without a handle or a copy: canResumeWithoutPicking is false and resumePending says NO_HANDLE", { timeout: 120_000 }, async () => {
  const namespace = randomNamespace("nohandle");
  await openDemo(stack, tab, { namespace });
  await interrupt("first", { file: { name: "plain.bin", size: SIZE, seed: 47 }, options: { namespace, concurrency: 1 } }, namespace, 1);
  await reloadMidUpload(stack, tab);
  const [entry] = await pending(tab, namespace);
  assert.equal(entry.canResumeWithoutPicking, false);
  assert.equal(entry.resumeFrom, null);
  const resumed = await resumePending(tab, "again", "plain.bin", namespace);
  assert.equal(resumed.error?.code, "NO_HANDLE", JSON.stringify(resumed));
  assert.match(resumed.error.message, /pick the same file again/);
  const left = await report(tab, "again");
  assert.equal(left, null, "no upload was made");
  await clearPending(tab, namespace);
});

test("a live upload's handle, kept before its record is made, outlives a listPending meanwhile", { timeout: 180_000 }, async (t) => {
  if (!hasOpfs) return t.skip("no origin-private file system to take a handle from");
  const namespace = randomNamespace("handle-live");
  await openDemo(stack, tab, { namespace });
  assert.equal(await writeOpfsFile(tab, "live.bin", SIZE, 47), true);
  await installHelpers(tab);
  const handleKeys = () =>
    tab.evaluate(() =>
      window.e2e.idb(async (db, requested) => (await requested(db.transaction("handles").objectStore("handles").getAllKeys())).map(String)),
    );
  // The store's answer to the create is held: the run keeps the handle,
  // and has no record yet, while orphans are collected.
  const before = await handleKeys();
  let release;
  const create = stack.gate.injectRequest({ method: "POST", query: "uploads" }, { holdAnswer: new Promise((r) => (release = r)) });
  let live;
  try {
    await startUpload(tab, "live", { file: { opfs: "live.bin" }, options: { namespace, concurrency: 1 } });
    await create.answered;
    const kept = (await handleKeys()).filter((key) => !before.includes(key));
    assert.equal(kept.length, 1, `the run keeps the file's handle: ${JSON.stringify(kept)}`);
    [live] = kept;
    assert.deepEqual(await pending(tab, namespace), [], "no record yet");
    assert.ok((await handleKeys()).includes(live), "the live upload's handle is kept");
  } finally {
    release();
  }
  const run = await waitOutcome(tab, "live");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.ok(!(await handleKeys()).includes(live), "gone with its record at the end");
});
