// UploadQueue: folders of many files through the real library, dev server
// and Garage. The store gate counts, holds and faults each whole-file
// request (partNumber 0) and each part. Runs in every engine (E2E_BROWSER).
// A folder is added as what the engine's users can pick:
// - where the page can write the origin-private file system (Chromium,
//   Firefox), it is made there and added as a real
//   FileSystemDirectoryHandle, which the queue walks;
// - elsewhere (the WebKit engines here; Safari, which has no directory
//   picker), it is added as a `webkitdirectory` input gives it: Files
//   that carry `webkitRelativePath` ("folder/sub/name"). They are made in
//   the page from their specs, which localStorage keeps, so the same
//   folder is there after a reload.
// Only the test of a folder resumed from its kept handle needs the handle.

import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";

import { epoch, hs256Jwt } from "./backend-client.mjs";
import { startCompanion } from "./companion.mjs";
import { openDemo, randomNamespace, waitReady } from "./demo.mjs";
import { engineHangOf, engineTrapOf, retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, sleep, startStack, waitUntil } from "./harness.mjs";
import { contentBytes, installHelpers, markersStored } from "./in-page.mjs";
import { createHash, randomBytes } from "node:crypto";

const PART = 5 * MIB;

let stack;
let tab;
let hasOpfs;
// WPE 2.38's known fault (tests/e2e/README.md) gets a test its second try.
const test = retriedOnEngineFault(() => ({ stack, tab, reopen: open }));
before(async () => {
  stack = await startStack({ label: `queue-${process.env.E2E_BROWSER || "chromium"}` });
  tab = stack.tab;
  await open();
  hasOpfs = await tab.evaluate(() => window.q.opfs);
  console.log(`# folders added as ${hasOpfs ? "directory handles" : "Files with folder paths"}`);
});
after(async () => {
  await stack?.stop();
});
afterEach(async () => {
  stack.gate.release();
  stack.gate.chaos(null);
  // A trap closes the module for the page (guard.js): a test that sees
  // one it does not wait for (its run's outcome does) fails, and the
  // tests after it get the page afresh instead of failing one after
  // another.
  if (await moduleClosed()) await open();
});

/** Whether the page's module is closed after a trap (or the page is gone). */
async function moduleClosed() {
  const closed = () =>
    window.e2e
      .lib("queue")
      .then(({ UploadQueue }) => UploadQueue.listPending())
      .then(
        () => false,
        (e) => e?.code === "INTERNAL_ERROR",
      );
  return tab.evaluate(closed).catch(() => true);
}

async function open() {
  await openDemo(stack, tab);
  await installHelpers(tab);
  await tab.evaluate(installQueueHelpers);
}

/** In the page: `window.q`, helpers to make folders and run queues. */
function installQueueHelpers() {
  if (window.q) return;
  const folderOf = async (path, create = false) => {
    let dir = await navigator.storage.getDirectory();
    for (const name of path.split("/").filter(Boolean)) dir = await dir.getDirectoryHandle(name, { create });
    return dir;
  };
  const opfs = typeof navigator.storage?.getDirectory === "function" && typeof FileSystemFileHandle?.prototype?.createWritable === "function";
  const specsKey = (root) => `e2e-folder:${root}`;
  const specsOf = (root) => JSON.parse(localStorage.getItem(specsKey(root)) ?? "null");
  /** Folder `root` as a `webkitdirectory` input gives it: its Files, each with its folder path. */
  const filesOf = async (root) => {
    const files = [];
    for (const spec of specsOf(root) ?? []) {
      const name = spec.path.split("/").pop();
      const { source } = await window.e2e.source({ ...spec, name });
      // A File made in the page has an empty path, and only an input sets
      // one: an own property stands in for it (the queue reads it by name).
      // The Files go as an array: a FileList made through a DataTransfer
      // may hand back other wrappers, without the property (seen in WebKit),
      // and the queue takes both the same way.
      Object.defineProperty(source, "webkitRelativePath", { value: `${root}/${spec.path}` });
      files.push(source);
    }
    return files;
  };
  const plain = (f) => ({ ...f, file: undefined, error: f.error && { code: f.error.code, message: f.error.message, status: f.error.status } });
  // The backend calls the page makes, by route.
  const calls = { params: 0, batch: 0, multipart: 0 };
  // Bound: Firefox refuses a fetch called on anything but the window.
  const fetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    const path = new URL(String(input?.url ?? input), location.href).pathname;
    if (path.endsWith("/params")) calls.params += 1;
    else if (path.endsWith("/params/batch")) calls.batch += 1;
    else if (path.includes("/multipart")) calls.multipart += 1;
    const answer = fetch(input, init);
    // A test may change the batch signing route's answers (`tamperBatch(body)`).
    const tamper = window.q?.tamperBatch;
    if (!tamper || !path.endsWith("/params/batch")) return answer;
    return answer.then(async (res) => {
      if (!res.ok) return res;
      const body = await res.json();
      tamper(body);
      const headers = new Headers(res.headers);
      headers.delete("content-length");
      return new Response(JSON.stringify(body), { status: res.status, statusText: res.statusText, headers });
    });
  };
  window.q = {
    opfs,
    calls,
    tamperBatch: null,
    runs: {},
    /** Folder `root`: its directory handle, or its Files where the page cannot make one. */
    async folder(root) {
      return opfs ? folderOf(root) : filesOf(root);
    },
    /** Makes folder `root`, empty. */
    async makeEmpty(root) {
      if (opfs) await folderOf(root, true);
      else localStorage.setItem(specsKey(root), "[]");
    },
    /** Writes `files` ([{ path, size, seed }]) under folder `root`, each dated now (as a file written now is). */
    async write(root, files) {
      if (!opfs) {
        const lastModified = Date.now();
        const kept = (specsOf(root) ?? []).filter((old) => !files.some((f) => f.path === old.path));
        localStorage.setItem(specsKey(root), JSON.stringify([...kept, ...files.map((f) => ({ ...f, lastModified }))]));
        return;
      }
      for (const { path, size, seed } of files) {
        const parts = `${root}/${path}`.split("/");
        const name = parts.pop();
        const dir = await folderOf(parts.join("/"), true);
        const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
        const { source } = await window.e2e.source({ name, size, seed });
        await writable.write(source);
        await writable.close();
      }
    },
    async remove(root) {
      localStorage.removeItem(specsKey(root));
      if (!opfs) return;
      const parent = await navigator.storage.getDirectory();
      await parent.removeEntry(root, { recursive: true }).catch(() => {});
    },
    /** The bearer token a queue run with `bearer: true` signs in with. */
    token: null,
    /** A queue over folder `root`, started (unless `start: false`), its events kept as `runs[name]`. */
    async run(name, { root, add = null, options: { bearer = false, ...options } = {}, start = true }) {
      const { UploadQueue } = await window.e2e.lib("queue");
      const run = { files: [], progress: [], warnings: [], warned: [], outcome: null, added: null };
      const queue = new UploadQueue({
        endpoint: "/api/s3",
        partSize: 5 * 2 ** 20,
        ...(bearer && { headers: () => ({ authorization: `Bearer ${window.q.token}` }) }),
        ...options,
        onFile: (f) => run.files.push(plain(f)),
        onProgress: (p) => run.progress.push(p),
        onWarning: (w) => (run.warnings.push(w.code), run.warned.push({ ...w })),
      });
      run.queue = queue;
      window.q.runs[name] = run;
      run.added = await queue.add(add === null ? await window.q.folder(root) : add);
      if (start) window.q.start(name);
      return run.added;
    },
    start(name) {
      const run = window.q.runs[name];
      run.outcome = null;
      run.queue.start().then(
        (r) => (run.outcome = { result: { done: r.done.map(plain), failed: r.failed.map(plain), cancelled: r.cancelled.map(plain) } }),
        // A trap's stack names the module's function where it struck.
        (e) => (run.outcome = { error: { code: e.code, message: e.message, status: e.status, stack: String(e.cause?.stack ?? "") } }),
      );
    },
    report(name) {
      const { files, progress, warnings, warned, outcome, added } = window.q.runs[name];
      return { files, lastProgress: progress.at(-1) ?? null, progressCount: progress.length, warnings, warned, outcome, added };
    },
  };
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Makes folder `root` in the page; answers each file's SHA-256 by path. */
async function makeFolder(root, files) {
  await tab.evaluate(({ root, files }) => window.q.write(root, files), { root, files });
  return Object.fromEntries(files.map((f) => [`${root}/${f.path}`, sha256(contentBytes(f))]));
}

/**
 * Makes folder `root` of `files`, runs queue `name` over it (namespace
 * `root`) until `stored` files are stored and one more is held, then
 * reloads: a half-done batch is left, and listed. Answers each file's
 * SHA-256 by path (as `makeFolder`).
 */
async function halfDone(name, root, files, stored) {
  const expected = await makeFolder(root, files);
  stack.gate.holdAfter(stored);
  await runQueue(name, { root, options: { concurrency: 1, namespace: root } });
  await waitUntil(async () => stack.gate.heldOpen() >= 1 && (await markersStored(tab, root)) >= stored, {
    timeout: 60_000,
    what: `${stored} files stored, one held`,
  });
  await tab.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held request" });
  stack.gate.release();
  await open();
  assert.deepEqual((await pending(root)).map((b) => [b.files, b.filesDone]), [[files.length, stored]], "the half-done batch");
  return expected;
}

async function runQueue(name, spec) {
  return tab.evaluate(({ name, spec }) => window.q.run(name, spec), { name, spec });
}

const report = (name) => tab.evaluate((name) => window.q.report(name), name);

/**
 * Queue run `name`'s report once it has ended. A trap of WPE's is an
 * `EngineTrap`, a run WPE left standing still (no file ended, no progress)
 * an `EngineHang` (engine-traps.mjs): the test's second try.
 */
async function outcomeOf(name, timeout = 180_000) {
  let moved = { at: Date.now(), sign: null };
  let last = null;
  const ended = await waitUntil(
    async () => {
      last = await report(name);
      const sign = `${last.files.length} ${last.progressCount}`;
      if (sign !== moved.sign) moved = { at: Date.now(), sign };
      return last.outcome ? last : null;
    },
    { timeout, interval: 200, what: `queue ${name} to end` },
  ).catch((error) => {
    throw engineHangOf(last && { ...last, trail: { stillMs: Date.now() - moved.at } }, error);
  });
  const trap = engineTrapOf(ended);
  if (trap) throw trap;
  return ended;
}

/** `files` (reports with `key` and `relativePath`) are every file of `expected`, each stored
 *  byte-identical. */
async function assertStored(files, expected) {
  assert.deepEqual(files.map((f) => f.relativePath).sort(), Object.keys(expected).sort(), "every file is done");
  for (const f of files) {
    const object = await stack.debug.object(f.key);
    assert.equal(object?.sha256, expected[f.relativePath], `${f.relativePath} stored byte-identical under ${f.key}`);
  }
}

/** The half-done batches `UploadQueue.listPending` lists for `namespace`. */
async function pending(namespace) {
  return tab.evaluate(async (namespace) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    return UploadQueue.listPending({ namespace });
  }, namespace);
}

const wholeFilePuts = (mark) => stack.gate.since(mark).filter((p) => p.partNumber === 0);
const donePaths = (r) => r.outcome.result.done.map((f) => f.relativePath).sort();

test("tiny files stored fast leave a slow large file's parts watched: each part sent once, never cut at the stall timeout", { timeout: 300_000 }, async () => {
  const root = randomNamespace("watched");
  // The tiny files go first (the queue takes them in order); the large
  // file's 16 MiB parts then go at 1 MiB/s, 16 s a part, against a stall
  // timeout of 8 s: only a part whose progress is watched gets through
  // (the socket buffers a few MiB, so progress may stand still for a few
  // seconds, never 8).
  const BIG_PART = 16 * MIB;
  const files = [
    ...Array.from({ length: 24 }, (_, i) => ({ path: `a-${String(i).padStart(2, "0")}.txt`, size: 1024, seed: 60 + i })),
    { path: "z-big.bin", size: BIG_PART + 777, seed: 90 },
  ];
  const expected = await makeFolder(root, files);
  for (const part of [1, 2]) stack.gate.inject(part, ...Array(5).fill({ throttle: MIB }));
  const mark = stack.gate.mark();
  try {
    const options = { concurrency: 6, partSize: BIG_PART, stallTimeout: 8_000, retryDelays: [0, 100, 100] };
    await runQueue("watched", { root, options });
    const r = await outcomeOf("watched");
    assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
    assert.deepEqual(r.outcome.result.failed, []);
    await assertStored(r.outcome.result.done, expected);
  } finally {
    stack.gate.reset();
  }
  // Before, a tiny file stored in a few ms had the parts go unwatched, and
  // each was cut 4 s after its start: sent again and again.
  const sends = stack.gate.since(mark).filter((p) => p.partNumber > 0).map((p) => [p.partNumber, p.state]);
  assert.deepEqual(sends.sort(), [[1, "done"], [2, "done"]], "each part sent once");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a folder of small and large files: byte-identical, small files in one request each, folder paths in the keys", { timeout: 300_000 }, async () => {
  const root = randomNamespace("mixed");
  const files = [
    { path: "empty.txt", size: 0, seed: 1 },
    ...Array.from({ length: 10 }, (_, i) => ({ path: `photos/${i < 5 ? "2024" : "2025"}/p${i}.jpg`, size: 1000 + i * 37_000, seed: 10 + i })),
    { path: "notes/Été naïve ?.txt", size: 4321, seed: 30 },
    { path: "video/big.bin", size: 2 * PART + 777, seed: 31 },
  ];
  const expected = await makeFolder(root, files);
  const mark = stack.gate.mark();
  const callsBefore = await tab.evaluate(() => ({ ...window.q.calls }));
  assert.equal(await runQueue("mixed", { root, options: { concurrency: 4 } }), files.length);
  const r = await outcomeOf("mixed");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  const { done, failed } = r.outcome.result;
  assert.deepEqual(failed, []);
  assert.deepEqual(donePaths(r), Object.keys(expected).sort());
  await assertStored(done, expected);
  for (const f of done.filter((f) => f.relativePath.includes("/photos/"))) {
    const folders = f.relativePath.split("/").slice(0, -1).join("/");
    assert.ok(f.key.endsWith(`${folders}/${f.name}`), `the folder path is in the key: ${f.key}`);
  }
  const puts = stack.gate.since(mark);
  assert.equal(puts.filter((p) => p.partNumber === 0 && p.state === "done").length, files.length - 1, "one request per small file");
  assert.deepEqual(puts.filter((p) => p.partNumber > 0).map((p) => p.partNumber).sort(), [1, 2, 3], "the large file in parts");
  const last = r.lastProgress;
  const total = files.reduce((sum, f) => sum + f.size, 0);
  assert.deepEqual(last.files, { total: files.length, done: files.length, failed: 0 });
  assert.deepEqual(last.bytes, { sent: total, confirmed: total, total });
  assert.equal(r.files.length, files.length, "onFile once per file");
  const calls = await tab.evaluate(() => ({ ...window.q.calls }));
  const signing = calls.params - callsBefore.params + calls.batch - callsBefore.batch;
  assert.ok(calls.batch > callsBefore.batch, "small files are signed through the batch route");
  // How many share a call depends on timing (a batch waits 10 ms, or for
  // `concurrency` files): on a busy machine fewer arrive together.
  assert.ok(signing < files.length - 1, `${files.length - 1} small files signed in ${signing} calls`);
  console.log(`# ${files.length - 1} small files signed in ${signing} calls`);
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("Files made in the page (no folder), in any engine: each stored byte-identical", { timeout: 180_000 }, async () => {
  const specs = Array.from({ length: 6 }, (_, i) => ({ name: `page-${i}.bin`, size: i === 5 ? PART + 5 : 40_000 + i, seed: 600 + i }));
  const expected = Object.fromEntries(specs.map((f) => [f.name, sha256(contentBytes(f))]));
  const added = await tab.evaluate(async (specs) => {
    const files = [];
    for (const spec of specs) files.push((await window.e2e.source(spec)).source);
    return window.q.run("files", { add: files, options: { concurrency: 3 } });
  }, specs);
  assert.equal(added, specs.length);
  const r = await outcomeOf("files");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.deepEqual(r.outcome.result.failed, []);
  for (const f of r.outcome.result.done) assert.equal(f.relativePath, f.name, "a file added alone has no folder");
  await assertStored(r.outcome.result.done, expected);
});

test("Blobs of one size (not Files) are separate files: each added, each stored byte-identical", { timeout: 180_000 }, async () => {
  // A Blob has no name or date: before, the queue keyed it by its size
  // alone, added the first of these and dropped the others as repeats.
  const specs = [0, 1, 2].map((i) => ({ name: `blob-${i}.bin`, size: 30_000, seed: 700 + i }));
  const expected = specs.map((f) => sha256(contentBytes(f))).sort();
  const added = await tab.evaluate(async (specs) => {
    const blobs = [];
    for (const spec of specs) blobs.push((await window.e2e.source(spec)).source.slice());
    return window.q.run("blobs", { add: blobs, options: { namespace: `blobs-${Date.now()}` } });
  }, specs);
  assert.equal(added, specs.length, "none dropped as a repeat of another");
  const r = await outcomeOf("blobs");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.deepEqual(r.outcome.result.failed, []);
  const stored = [];
  for (const f of r.outcome.result.done) stored.push((await stack.debug.object(f.key))?.sha256);
  assert.deepEqual(stored.sort(), expected, "each Blob's own bytes");
});

test("a reload mid-batch, then the same folder again: stored files are skipped, only the rest are sent", { timeout: 300_000 }, async () => {
  const root = randomNamespace("reload");
  const files = Array.from({ length: 24 }, (_, i) => ({ path: `set/f${String(i).padStart(2, "0")}.bin`, size: 50_000 + i, seed: 100 + i }));
  const expected = await makeFolder(root, files);
  const concurrency = 2;
  stack.gate.holdAfter(10);
  const mark = stack.gate.mark();
  await runQueue("first", { root, options: { concurrency } });
  await waitUntil(() => stack.gate.heldOpen() >= 1 && wholeFilePuts(mark).filter((p) => p.state === "done").length >= 10, { timeout: 60_000, what: "10 files stored and one held" });
  // Let the markers of the stored files be written.
  await waitUntil(async () => (await markersStored(tab, root)) >= 10, { timeout: 30_000, what: "10 files' markers stored" });
  await tab.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held requests" });
  stack.gate.release();
  await open();

  // The folder changed meanwhile: one stored file has new bytes (and a new date).
  const changed = { path: "set/f03.bin", size: 50_003, seed: 999 };
  Object.assign(expected, await makeFolder(root, [changed]));
  const again = stack.gate.mark();
  await runQueue("again", { root, options: { concurrency } });
  const r = await outcomeOf("again");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.deepEqual(r.outcome.result.failed, []);
  const skipped = r.files.filter((f) => f.skipped);
  assert.ok(skipped.length >= 9 && skipped.length <= 10, `the files stored before the reload are skipped (${skipped.length}), the changed one excepted`);
  assert.ok(!skipped.some((f) => f.relativePath.endsWith("f03.bin")), "the changed file is sent again");
  const sent = wholeFilePuts(again).filter((p) => p.state === "done").length;
  assert.equal(sent, files.length - skipped.length, "only the files not skipped are sent");
  const total = wholeFilePuts(mark).filter((p) => p.state === "done").length;
  assert.ok(total <= files.length + 1 + concurrency, `files sent twice stay within the ones in flight at the reload (+1 changed): ${total}`);
  await assertStored(r.outcome.result.done, expected);
  const last = r.lastProgress;
  assert.deepEqual(last.files, { total: files.length, done: files.length, failed: 0 }, "each file counted once");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a half-done folder is listed after a reload: from its handle it resumes with one click, as Files it is added again", { timeout: 300_000 }, async () => {
  const root = randomNamespace("listed");
  const files = Array.from({ length: 12 }, (_, i) => ({ path: `f${i}.bin`, size: 30_000 + i, seed: 700 + i }));
  const expected = await makeFolder(root, files);
  stack.gate.holdAfter(5);
  const mark = stack.gate.mark();
  await runQueue("listed", { root, options: { concurrency: 1 } });
  await waitUntil(async () => stack.gate.heldOpen() >= 1 && (await markersStored(tab, root)) >= 5, { timeout: 60_000, what: "5 files stored, one held" });
  await tab.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held request" });
  stack.gate.release();
  await open();
  const [listed, ofOther, ofOurs] = await tab.evaluate(async (root) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const named = async (lookup) => (await UploadQueue.listPending(lookup)).filter((b) => b.name === root);
    return [await named(), await named({ endpoint: "/other" }), await named({ endpoint: " /api/s3/" })];
  }, root);
  assert.equal(listed.length, 1, JSON.stringify(listed));
  // An endpoint limits the lookup (before, it was ignored).
  assert.deepEqual([ofOther.length, ofOurs.length], [0, 1], "listed for its own endpoint only");
  assert.deepEqual(
    { files: listed[0].files, filesDone: listed[0].filesDone, resumes: listed[0].canResumeWithoutPicking },
    { files: 12, filesDone: 5, resumes: hasOpfs },
    "only a folder handle is kept to resume from",
  );
  const again = stack.gate.mark();
  const outcome = await tab.evaluate(async (root) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const [entry] = (await UploadQueue.listPending()).filter((b) => b.name === root);
    // Not an entry of listPending: the app's mistake (before, NO_HANDLE).
    const notEntry = await UploadQueue.resumePending({ name: root }, {}).then(() => "resumed", (e) => e.code);
    if (notEntry !== "INVALID_OPTION") throw new Error(`resumePending of no entry: ${notEntry}`);
    let queue;
    if (window.q.opfs) {
      // A bad option is named as new UploadQueue names it (before: "invalid option `options`: ResuploadError: …").
      const bad = await UploadQueue.resumePending(entry, { partSize: 1 }).then(() => "resumed", (e) => `${e.code}: ${e.message}`);
      if (!bad.startsWith("INVALID_OPTION: invalid option `partSize`")) throw new Error(`resumePending with a bad option: ${bad}`);
      queue = await UploadQueue.resumePending(entry, {});
    } else {
      // Files are not kept: the user picks the folder again.
      const refused = await UploadQueue.resumePending(entry, {}).then(() => "resumed", (e) => e.code);
      if (refused !== "NO_HANDLE") throw new Error(`resumePending of a batch of Files: ${refused}`);
      queue = new UploadQueue({ endpoint: "/api/s3", partSize: 5 * 2 ** 20, concurrency: 1 });
      await queue.add(await window.q.folder(root));
    }
    const result = await queue.start();
    const left = (await UploadQueue.listPending()).filter((b) => b.name === root);
    return { done: result.done.map((f) => ({ key: f.key, relativePath: f.relativePath, skipped: !!f.skipped })), failed: result.failed.length, left: left.length };
  }, root);
  assert.equal(outcome.failed, 0);
  assert.equal(outcome.done.filter((f) => f.skipped).length, 5, "the 5 stored files are skipped");
  assert.equal(wholeFilePuts(again).filter((p) => p.state === "done").length, 7, "only the other 7 are sent");
  assert.equal(outcome.left, 0, "a finished batch is no longer listed");
  await assertStored(outcome.done, expected);
  assert.ok(wholeFilePuts(mark).length >= 12);
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a folder that changed after a reload is one batch: the old one is replaced, its stored files still skipped", { timeout: 300_000 }, async () => {
  const root = randomNamespace("grown");
  const files = Array.from({ length: 6 }, (_, i) => ({ path: `g/f${i}.bin`, size: 25_000 + i, seed: 1100 + i }));
  const expected = await halfDone("grown", root, files, 3);

  // A file added to the folder meanwhile: another batch key.
  Object.assign(expected, await makeFolder(root, [{ path: "g/added.bin", size: 31_000, seed: 1120 }]));
  stack.gate.holdAfter(1);
  await runQueue("grown-again", { root, options: { concurrency: 1, namespace: root } });
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 60_000, what: "a file of the new batch held" });
  await waitUntil(async () => (await report("grown-again")).files.filter((f) => f.key).length >= 4, { timeout: 30_000, what: "3 skipped and 1 stored" });
  const listed = await pending(root);
  assert.deepEqual(
    listed.map((b) => [b.files, b.filesDone]),
    [[7, 4]],
    `one batch, the old one replaced, its stored files carried over: ${JSON.stringify(listed)}`,
  );
  stack.gate.release();
  const r = await outcomeOf("grown-again");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.deepEqual(r.outcome.result.failed, []);
  assert.equal(r.files.filter((f) => f.skipped).length, 3, "the files stored before the reload are skipped");
  await assertStored(r.outcome.result.done, expected);
  assert.deepEqual(await pending(root), [], "the finished batch is no longer listed");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a half-done folder added again and cancelled before it runs is forgotten: no longer listed, nothing sent", { timeout: 300_000 }, async () => {
  const root = randomNamespace("discard");
  const files = Array.from({ length: 4 }, (_, i) => ({ path: `d/f${i}.bin`, size: 22_000 + i, seed: 1400 + i }));
  await halfDone("discard", root, files, 2);
  const mark = stack.gate.mark();
  const cancelled = await tab.evaluate(async (root) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const queue = new UploadQueue({ endpoint: "/api/s3", namespace: root, concurrency: 1 });
    await queue.add(await window.q.folder(root));
    return queue.cancel();
  }, root);
  assert.equal(cancelled, true);
  // Before, its done markers went and its batch stayed listed (0 of 4
  // done): resuming it would have sent the stored files again.
  assert.deepEqual(await pending(root), [], "the batch is forgotten");
  assert.deepEqual(wholeFilePuts(mark), [], "nothing was sent");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a folder added again (nothing new, then with a new file in it) keeps the queue's folder handle: its batch still resumes without picking", { timeout: 300_000 }, async () => {
  const root = randomNamespace("again");
  await makeFolder(root, Array.from({ length: 3 }, (_, i) => ({ path: `a/f${i}.bin`, size: 24_000 + i, seed: 1500 + i })));
  stack.gate.holdAfter(0);
  const added = await tab.evaluate(async (root) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const queue = new UploadQueue({ endpoint: "/api/s3", namespace: root, concurrency: 1 });
    const counts = [await queue.add(await window.q.folder(root)), await queue.add(await window.q.folder(root))];
    window.againRun = { queue };
    return counts;
  }, root);
  await makeFolder(root, [{ path: "a/new.bin", size: 25_000, seed: 1510 }]);
  const [grown] = await tab.evaluate(async (root) => {
    const { queue } = window.againRun;
    const counts = [await queue.add(await window.q.folder(root))];
    window.againRun.outcome = queue.start().then(
      (r) => ({ done: r.done.length }),
      (e) => ({ code: e.code }),
    );
    return counts;
  }, root);
  assert.deepEqual([...added, grown], [3, 0, 1], "added: the folder, nothing new, its new file");
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 60_000, what: "a file held" });
  const listed = await pending(root);
  // Before, any later add() dropped the handle: the batch was written
  // without it, and after a reload the folder had to be picked again.
  assert.deepEqual(listed.map((b) => [b.files, b.canResumeWithoutPicking]), [[4, hasOpfs]], JSON.stringify(listed));
  stack.gate.release();
  const outcome = await tab.evaluate(() => window.againRun.outcome);
  assert.deepEqual(outcome, { done: 4 });
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("with lock: \"wait\", a file cancelled while start() waits for another run of its batch is told cancelled at once", { timeout: 300_000 }, async () => {
  const root = randomNamespace("waitcancel");
  const files = Array.from({ length: 3 }, (_, i) => ({ path: `w/f${i}.bin`, size: 26_000 + i, seed: 1600 + i }));
  await halfDone("waitcancel", root, files, 1);
  const [entry] = await pending(root);
  const outcome = await tab.evaluate(async ({ root, id }) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    // Another run of the batch, as another tab's: its lock held.
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await new Promise((granted) => navigator.locks.request(`resupload:${id}`, () => (granted(), held)));
    const told = [];
    const queue = new UploadQueue({
      endpoint: "/api/s3",
      namespace: root,
      concurrency: 1,
      lock: "wait",
      onFile: (f) => told.push([f.index, f.cancelled ? "cancelled" : f.skipped ? "skipped" : f.key ? "stored" : "failed"]),
    });
    await queue.add(await window.q.folder(root));
    const run = queue.start().then(
      (r) => ({ done: r.done.length, cancelled: r.cancelled.length }),
      (e) => ({ code: e.code }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cancelled = await queue.cancel(2);
    const toldWhileWaiting = told.slice();
    release();
    return { cancelled, toldWhileWaiting, result: await run, told };
  }, { root, id: entry.id });
  assert.equal(outcome.cancelled, true);
  // Before, onFile said it only once the other run ended.
  assert.deepEqual(outcome.toldWhileWaiting, [[2, "cancelled"]], "told at once, while start() waits");
  assert.deepEqual(outcome.result, { done: 2, cancelled: 1 }, JSON.stringify(outcome));
  assert.equal(outcome.told.filter(([i]) => i === 2).length, 1, "told once");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("files added to a paused queue that stored nothing: its earlier batch gives way to the new one, listed once", { timeout: 300_000 }, async () => {
  const root = randomNamespace("superseded");
  await makeFolder(root, Array.from({ length: 2 }, (_, i) => ({ path: `s/f${i}.bin`, size: 27_000 + i, seed: 1700 + i })));
  stack.gate.holdAfter(0);
  await tab.evaluate(async (root) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const queue = new UploadQueue({ endpoint: "/api/s3", namespace: root, concurrency: 1 });
    await queue.add(await window.q.folder(root));
    window.superseded = { queue, first: queue.start().catch((e) => e.code) };
  }, root);
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 60_000, what: "the first file held" });
  const listedFirst = await pending(root);
  await tab.evaluate(async () => {
    const { queue } = window.superseded;
    queue.pause();
    await window.superseded.first;
    await queue.add(new File([new Uint8Array(28_000).fill(3)], "extra.bin"));
    window.superseded.second = queue.start().then((r) => r.done.length, (e) => e.code);
  });
  // Before, the first batch (nothing stored) stayed listed beside it, and
  // after a reload until it expired.
  const only = (listed) => listed.length === 1 && listed[0].files === 3 && listed[0].filesDone === 0;
  const listed = await waitUntil(async () => {
    const listed = await pending(root);
    return only(listed) ? listed : null;
  }, { timeout: 30_000, what: "the new batch alone listed" }).catch(async () => pending(root));
  stack.gate.release();
  assert.equal(await tab.evaluate(() => window.superseded.second), 3);
  assert.deepEqual(listedFirst.map((b) => b.files), [2]);
  assert.deepEqual(listed.map((b) => [b.files, b.filesDone]), [[3, 0]], JSON.stringify(listed));
  assert.deepEqual(await pending(root), [], "and none once every file is stored");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("files that join a running queue are under its lock too: another queue of the same files is refused (UPLOAD_LOCKED)", { timeout: 300_000 }, async () => {
  const root = randomNamespace("joined");
  await makeFolder(root, Array.from({ length: 2 }, (_, i) => ({ path: `j/f${i}.bin`, size: 29_000 + i, seed: 1800 + i })));
  stack.gate.holdAfter(0);
  await tab.evaluate(async (root) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const queue = new UploadQueue({ endpoint: "/api/s3", namespace: root, concurrency: 1 });
    await queue.add(await window.q.folder(root));
    window.joined = { queue, run: queue.start().then((r) => r.done.length, (e) => e.code) };
  }, root);
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 60_000, what: "the first file held" });
  await makeFolder(root, [{ path: "j/new.bin", size: 29_500, seed: 1810 }]);
  const second = await tab.evaluate(async (root) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const joined = await window.joined.queue.add(await window.q.folder(root));
    // The folder as it is now, in a queue of its own (as another tab's).
    const other = new UploadQueue({ endpoint: "/api/s3", namespace: root, concurrency: 1 });
    await other.add(await window.q.folder(root));
    const code = await other.start().then(() => "started", (e) => e.code);
    return { joined, code };
  }, root);
  stack.gate.release();
  assert.equal(await tab.evaluate(() => window.joined.run), 3);
  // Before, the lock was named after the files the run began with: the
  // other queue ran, and sent the same small files at the same time.
  assert.deepEqual(second, { joined: 1, code: "UPLOAD_LOCKED" });
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("files added to a running queue in one loop, none awaited: every one kept in its batch, by a few rounds of keeping it, not one per add", { timeout: 180_000 }, async () => {
  const root = randomNamespace("loop");
  const long = { name: "long.bin", size: 20_000, seed: 880 };
  const expected = { [long.name]: sha256(contentBytes(long)) };
  // long.bin's answer is held: the run goes on through the adds.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  const { answered } = stack.gate.injectRequest({ method: "PUT", keySuffix: "/long.bin" }, { holdAnswer: held });
  let sending = false;
  answered.then(() => (sending = true));
  const late = Array.from({ length: 24 }, (_, i) => ({ name: `loop-${i}.bin`, size: 5_000 + i, seed: 890 + i }));
  Object.assign(expected, Object.fromEntries(late.map((f) => [f.name, sha256(contentBytes(f))])));
  let kept;
  try {
    // Files, not a folder handle: an add to a queue of one looks at the
    // file system (isSameEntry), which would spread the adds out in time.
    await tab.evaluate(async ({ long, options }) => {
      await window.q.run("loop", { add: [(await window.e2e.source(long)).source], options });
    }, { long, options: { concurrency: 2, namespace: root } });
    // The batch is listed before the run keeps the files added to it; it
    // sends files once it does (an add before then joins at its start).
    await waitUntil(() => sending, { timeout: 30_000, what: "long.bin sent (held), so the run keeps what is added" });
    kept = await tab.evaluate(async (specs) => {
      const files = [];
      for (const spec of specs) files.push((await window.e2e.source(spec)).source);
      // Counts the database's openings while the adds run: each round of
      // keeping the batch (open, build it, write it if it changed, read the
      // added files' markers) opens it once.
      const open = IDBFactory.prototype.open;
      let count = 0;
      IDBFactory.prototype.open = function (...args) {
        count++;
        return open.apply(this, args);
      };
      try {
        const queue = window.q.runs.loop.queue;
        const added = await Promise.all(files.map((file) => queue.add([file])));
        if (added.some((n) => n !== 1)) throw new Error(`add() answered ${added}`);
      } finally {
        IDBFactory.prototype.open = open;
      }
      return count;
    }, late);
    // Each add resolved once a write with its file ended: the batch counts them all.
    const listed = await pending(root);
    assert.deepEqual(listed.map((b) => b.files), [1 + late.length], "the batch counts every file added");
  } finally {
    release();
  }
  // The run ends before any assertion fails: its files would count in the next test's gate.
  const r = await outcomeOf("loop");
  // Before, each add opened the database and made the batch anew (its key
  // hashes every file of the queue): 24 times.
  assert.ok(kept >= 1 && kept <= 3, `the batch was kept ${kept} times for ${late.length} adds`);
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.equal(r.outcome.result.done.length, 1 + late.length);
  assert.deepEqual(await pending(root), [], "the finished batch is no longer listed");
  await assertStored(r.outcome.result.done, expected);
});

test("a half-done folder added to a running queue is taken over: its stored files skipped, and it is no longer listed once the queue ends", { timeout: 300_000 }, async () => {
  const root = randomNamespace("taken");
  const files = Array.from({ length: 5 }, (_, i) => ({ path: `h/f${i}.bin`, size: 21_000 + i, seed: 1300 + i }));
  const expected = await halfDone("half", root, files, 2);

  // Another queue runs (its one file held) when the half-done folder is dropped in.
  const other = `${root}-other`;
  Object.assign(expected, await makeFolder(other, [{ path: "o/other.bin", size: 23_000, seed: 1320 }]));
  stack.gate.holdAfter(0);
  await runQueue("mixed", { root: other, options: { concurrency: 1, namespace: root } });
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 60_000, what: "the other file held" });
  await tab.evaluate(async (root) => {
    const run = window.q.runs.mixed;
    await run.queue.add(await window.q.folder(root));
  }, root);
  stack.gate.release();
  const r = await outcomeOf("mixed");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.equal(r.files.filter((f) => f.skipped).length, 2, "the files stored before the reload are skipped");
  await assertStored(r.outcome.result.done, expected);
  // Before, the old batch stayed listed with its done markers forgotten:
  // resuming it would have sent every file again.
  assert.deepEqual(await pending(root), [], "no batch left to resume");
  await tab.evaluate(([a, b]) => Promise.all([window.q.remove(a), window.q.remove(b)]), [root, other]);
});

test("a batch a run holds outlives a listing's expiresAfter; one begun again past its expiry is dated afresh", { timeout: 300_000 }, async () => {
  const root = randomNamespace("dated");
  const files = Array.from({ length: 4 }, (_, i) => ({ path: `d/f${i}.bin`, size: 22_000 + i, seed: 1400 + i }));
  const expected = await makeFolder(root, files);
  const options = { concurrency: 1, namespace: root, expiresAfter: 1000 };
  const listed = (expiresAfter) => tab.evaluate(async (lookup) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    return UploadQueue.listPending(lookup);
  }, { namespace: root, expiresAfter });
  stack.gate.holdAfter(1);
  await runQueue("first", { root, options });
  await waitUntil(async () => stack.gate.heldOpen() >= 1 && (await report("first")).files.length >= 1, { timeout: 60_000, what: "1 file stored, one held" });
  await sleep(1_200);
  const [held] = await listed(1000);
  // Before, the listing forgot it, and the done markers the run writes.
  assert.equal(held?.running, true, "the running batch, past the listing's expiresAfter, is kept");
  await tab.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held request" });
  stack.gate.release();
  await open();

  // Begun again past its expiry: its markers are collected, and it is dated now.
  stack.gate.holdAfter(0);
  const begun = Date.now();
  await runQueue("again", { root, options });
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 60_000, what: "a file of the new run held" });
  const [again] = await listed(1000);
  assert.ok(again?.createdAt >= begun - 1000, `dated afresh: ${again?.createdAt} against ${held.createdAt}`);
  stack.gate.release();
  const r = await outcomeOf("again");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  await assertStored(r.outcome.result.done, expected);
  assert.deepEqual(await pending(root), []);
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a run collects its namespace's batches past its expiresAfter that no run holds, though the app never lists them; another namespace's are left", { timeout: 300_000 }, async () => {
  const abandoned = randomNamespace("abandoned");
  const elsewhere = randomNamespace("elsewhere");
  const holder = randomNamespace("holder");
  const runner = randomNamespace("collector");
  // Batches left half done by a reload: one in the collector's namespace, one in another's.
  await halfDone("elsewhere", elsewhere, Array.from({ length: 2 }, (_, i) => ({ path: `e/f${i}.bin`, size: 13_000 + i, seed: 1490 + i })), 1);
  await halfDone("abandoned", abandoned, Array.from({ length: 3 }, (_, i) => ({ path: `a/f${i}.bin`, size: 14_000 + i, seed: 1500 + i })), 1);
  // And one a run holds, in the collector's namespace.
  await makeFolder(holder, [{ path: "h/held.bin", size: 14_100, seed: 1510 }]);
  let release;
  stack.gate.injectRequest({ method: "PUT", keySuffix: "held.bin" }, { holdAnswer: new Promise((resolve) => (release = resolve)) });
  await runQueue("holder", { root: holder, options: { namespace: abandoned } });
  const running = async () => (await pending(abandoned)).filter((b) => b.running);
  await waitUntil(async () => (await running()).length === 1, { timeout: 30_000, what: "the holder's batch running" });
  await sleep(1_200);

  // Another folder run in that namespace with a shorter expiresAfter; the app never calls listPending with it.
  const expected = await makeFolder(runner, [{ path: "r/f0.bin", size: 14_200, seed: 1520 }]);
  await runQueue("collector", { root: runner, options: { namespace: abandoned, expiresAfter: 1000 } });
  const r = await outcomeOf("collector");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  await assertStored(r.outcome.result.done, expected);
  // Before, only a listing with that expiresAfter collected it: the run left it.
  const left = await pending(abandoned);
  assert.deepEqual(left.map((b) => b.running), [true], "the abandoned batch, past the run's expiresAfter, is collected; the one a run holds is left to it");
  // Before, a run collected every namespace's batches by its own expiresAfter.
  assert.deepEqual((await pending(elsewhere)).map((b) => [b.files, b.filesDone]), [[2, 1]], "another namespace's batch is not this run's to judge");

  release();
  const held = await outcomeOf("holder");
  assert.equal(held.outcome.result?.done.length, 1, JSON.stringify(held.outcome));
  assert.deepEqual(await pending(abandoned), []);
  // A listing of that namespace, with its own expiresAfter, collects it.
  await tab.evaluate(async (namespace) => (await window.e2e.lib("queue")).UploadQueue.listPending({ namespace, expiresAfter: 1 }), elsewhere);
  assert.deepEqual(await pending(elsewhere), []);
  for (const root of [abandoned, elsewhere, holder, runner]) await tab.evaluate((root) => window.q.remove(root), root);
});

test("one file failing for good does not stop the others; start() again retries only it", { timeout: 300_000 }, async () => {
  const root = randomNamespace("failing");
  const files = Array.from({ length: 8 }, (_, i) => ({ path: `d/${i === 5 ? "bad" : `ok${i}`}.bin`, size: 20_000 + i, seed: 200 + i }));
  const expected = await makeFolder(root, files);
  stack.gate.injectFile("bad.bin", { status: 403, body: "<Error><Code>AccessDenied</Code><Message>no</Message></Error>" });
  await runQueue("failing", { root, options: { concurrency: 3 } });
  const r = await outcomeOf("failing");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.equal(r.outcome.result.done.length, 7);
  const [bad] = r.outcome.result.failed;
  assert.ok(bad.relativePath.endsWith("bad.bin"));
  assert.equal(bad.error.code, "HTTP_STATUS");
  assert.equal(bad.error.status, 403);
  assert.equal(r.lastProgress.files.failed, 1);
  const mark = stack.gate.mark();
  await tab.evaluate(() => window.q.start("failing"));
  const retried = await outcomeOf("failing");
  assert.deepEqual(retried.outcome.result.failed, []);
  assert.equal(retried.outcome.result.done.length, 8);
  assert.equal(wholeFilePuts(mark).length, 1, "only the failed file is sent again");
  await assertStored(retried.outcome.result.done, expected);
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("files refused one after another for an expired sign-in stop the queue: start() rejects once, the rest wait; signed in again, every file is stored", { timeout: 300_000 }, async () => {
  // A dev server that wants a bearer JWT, on the same store.
  const secret = randomBytes(32).toString("hex");
  const { baseUrl: jwtBase } = await stack.startServer({ name: "queue-jwt", env: { AUTH_JWT_HS256_SECRET: secret } });
  const tokenUntil = (exp) => hs256Jwt({ sub: "queue-e2e", exp }, secret);
  await tab.goto(new URL("/", jwtBase).href);
  await waitReady(tab);
  await installHelpers(tab);
  await tab.evaluate(installQueueHelpers);
  const root = randomNamespace("signed-out");
  try {
    const files = Array.from({ length: 40 }, (_, i) => ({ path: `s/f${String(i).padStart(2, "0")}.bin`, size: 9_000 + i, seed: 1000 + i }));
    const expected = await makeFolder(root, files);
    // The sign-in expired ten minutes ago: the backend answers 401 to everything.
    await tab.evaluate((token) => (window.q.token = token), tokenUntil(epoch(-600)));
    const before = await tab.evaluate(() => ({ ...window.q.calls }));
    const mark = stack.gate.mark();
    // Two requests in flight: four files at once.
    await runQueue("signed-out", { root, options: { concurrency: 2, namespace: root, bearer: true } });
    const r = await outcomeOf("signed-out", 60_000);
    assert.deepEqual([r.outcome.error?.code, r.outcome.error?.status], ["HTTP_STATUS", 401], JSON.stringify(r.outcome));
    const failed = r.files.filter((f) => f.error);
    assert.equal(r.files.length, failed.length, "no file ended otherwise: the rest wait, neither failed nor cancelled");
    assert.ok(failed.length >= 3 && failed.length <= 4 + 3, `the queue stops after 3 in a row; those running end on their own: ${failed.length}`);
    for (const f of failed) assert.deepEqual([f.error.code, f.error.status], ["HTTP_STATUS", 401]);
    const calls = await tab.evaluate(() => ({ ...window.q.calls }));
    const made = Object.keys(calls).reduce((sum, route) => sum + calls[route] - before[route], 0);
    console.log(`# ${files.length} files, ${failed.length} failed, ${made} backend calls before the queue stopped`);
    assert.ok(made <= 2 * failed.length, `${made} backend calls for ${files.length} files`);
    assert.equal(wholeFilePuts(mark).length, 0, "nothing reached the store");
    assert.deepEqual(r.lastProgress.files, { total: files.length, done: 0, failed: failed.length });

    // Signed in again: start() goes on, and stores every file.
    await tab.evaluate((token) => (window.q.token = token), tokenUntil(epoch(600)));
    await tab.evaluate(() => window.q.start("signed-out"));
    const again = await outcomeOf("signed-out");
    assert.ok(again.outcome.result, JSON.stringify(again.outcome.error));
    assert.deepEqual(again.outcome.result.failed, []);
    assert.equal(again.outcome.result.done.length, files.length);
    await assertStored(again.outcome.result.done, expected);
  } finally {
    await tab.evaluate((root) => window.q.remove(root), root);
    await open();
  }
});

test("pause and resume a queue; cancel one file (its multipart upload aborted) and then the whole queue", { timeout: 300_000 }, async () => {
  const root = randomNamespace("cancel");
  // Nine small files: with 4 running at once and 2 let through, at least 4 wait.
  const files = [{ path: "big.bin", size: 3 * PART, seed: 300 }, ...Array.from({ length: 9 }, (_, i) => ({ path: `s${i}.bin`, size: 10_000 + i, seed: 301 + i }))];
  const expected = await makeFolder(root, files);
  const through = stack.gate.mark();
  stack.gate.holdAfter(2);
  await runQueue("cancel", { root, options: { concurrency: 2 } });
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "a request held" });
  const bigIndex = await tab.evaluate(() => window.q.runs.cancel.queue.files.findIndex((f) => f.name === "big.bin"));
  assert.ok(bigIndex >= 0);
  // A file still waiting (the last small one in the queue's order),
  // cancelled: the page hears of it at once, while the running files are
  // held (once the files of the two requests let through have ended: their
  // ends would report it). One of the two may be big.bin's first part,
  // which ends no file (seen in WPE, where the order varies).
  const letThrough = () => stack.gate.since(through).filter((p) => p.state === "done");
  await waitUntil(
    async () => letThrough().length >= 2 && (await report("cancel")).files.length === letThrough().filter((p) => p.partNumber === 0).length,
    { timeout: 30_000, what: "the files let through to end" },
  );
  const names = await tab.evaluate(() => window.q.runs.cancel.queue.files.map((f) => f.name));
  const last = names.filter((name) => name !== "big.bin").at(-1);
  assert.equal(await tab.evaluate((i) => window.q.runs.cancel.queue.cancel(i), names.indexOf(last)), true, `${last} of ${names} waits`);
  // (Before the running big.bin is cancelled: its end would report it too.)
  const waiting = await waitUntil(async () => (await report("cancel")).files.find((f) => f.name === last), { timeout: 10_000, what: "onFile for the waiting file cancelled" });
  assert.equal(waiting.cancelled, true, JSON.stringify(waiting));
  assert.ok(stack.gate.heldOpen() >= 1, "the running files are still held");
  assert.equal(await tab.evaluate((i) => window.q.runs.cancel.queue.cancel(i), bigIndex), true);
  await tab.evaluate(() => window.q.runs.cancel.queue.pause());
  const paused = await outcomeOf("cancel");
  assert.equal(paused.outcome.error?.code, "PAUSED");
  stack.gate.release();
  await tab.evaluate(() => window.q.start("cancel"));
  const r = await outcomeOf("cancel");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.equal(r.outcome.result.done.length, 8);
  assert.deepEqual(r.outcome.result.cancelled.map((f) => f.name).sort(), ["big.bin", last].sort());
  const stored = Object.fromEntries(Object.entries(expected).filter(([path]) => !path.endsWith("/big.bin") && !path.endsWith(`/${last}`)));
  await assertStored(r.outcome.result.done, stored);
  const open = await stack.debug.uploads();
  assert.ok(!open.some((u) => u.key.endsWith("big.bin")), "the cancelled file's multipart upload was aborted");

  // The whole queue: nothing more is sent, and start() says ABORTED.
  const root2 = randomNamespace("cancel-all");
  await makeFolder(root2, files);
  stack.gate.holdAfter(1);
  const mark = stack.gate.mark();
  await runQueue("all", { root: root2, options: { concurrency: 2, namespace: root2 } });
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "a request held" });
  assert.equal(await tab.evaluate(() => window.q.runs.all.queue.cancel()), true);
  const ended = await outcomeOf("all");
  assert.equal(ended.outcome.error?.code, "ABORTED");
  assert.deepEqual(await pending(root2), [], "a cancelled queue is not listed as half-done");
  stack.gate.release();
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(stack.gate.since(mark).filter((p) => p.state === "done").length <= 1, "nothing sent after the cancel");
  await tab.evaluate((roots) => Promise.all(roots.map((root) => window.q.remove(root))), [root, root2]);
});

test("pause() then resume() or start() in the same turn: the first start() says PAUSED, the second runs on", { timeout: 180_000 }, async () => {
  for (const again of ["resume", "start"]) {
    const root = randomNamespace(`pause-${again}`);
    const files = [{ path: "p/big.bin", size: 2 * PART + 3, seed: 879 }, ...Array.from({ length: 5 }, (_, i) => ({ path: `p/f${i}.bin`, size: 12_000 + i, seed: 880 + i }))];
    const expected = await makeFolder(root, files);
    stack.gate.holdAfter(2);
    await runQueue(again, { root, options: { concurrency: 2, namespace: root } });
    await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "a request held" });
    await tab.evaluate((again) => {
      const run = window.q.runs[again];
      run.queue.pause();
      run.again = run.queue[again]().then(
        (r) => ({ done: r.done.length, failed: r.failed.length }),
        (e) => ({ code: e.code }),
      );
    }, again);
    const first = await outcomeOf(again);
    assert.equal(first.outcome.error?.code, "PAUSED", "the first start() was paused");
    stack.gate.release();
    const second = await tab.evaluate((again) => window.q.runs[again].again, again);
    assert.deepEqual(second, { done: files.length, failed: 0 }, `${again}() right after pause() runs every file`);
    const r = await report(again);
    await assertStored(r.files.filter((f) => f.key), expected);
    await tab.evaluate((root) => window.q.remove(root), root);
  }
});

test("a multipart file cancelled while the store completes it: CANCELLED_STORED gives the stored object's key, once", { timeout: 180_000 }, async () => {
  // The page is told "cancelled" at once; the abort that follows finds the
  // upload completed (the complete was under way). Before, nothing told
  // the page that the file it cancelled is in the bucket.
  const root = randomNamespace("cancel-stored");
  const expected = await makeFolder(root, [{ path: "big.bin", size: PART + 11, seed: 905 }]);
  let release;
  const held = stack.gate.injectRequest({ method: "POST", query: "uploadId", keySuffix: "/big.bin" }, { holdAnswer: new Promise((resolve) => (release = resolve)) });
  await runQueue("cstored", { root, options: { namespace: root, singleRequestLimit: 1000 } });
  await held.answered; // the store completed it; its answer is held
  const cancelled = await tab.evaluate(() => window.q.runs.cstored.queue.cancel(0));
  release();
  assert.equal(cancelled, true, "the running file was cancelled");
  const { warned, outcome } = await outcomeOf("cstored");
  assert.deepEqual(outcome.result.cancelled.map((f) => f.relativePath), [`${root}/big.bin`], JSON.stringify(outcome));
  const told = await waitUntil(async () => {
    const r = await report("cstored");
    return r.warned.some((w) => w.code === "CANCELLED_STORED") ? r.warned : null;
  }, { timeout: 30_000, what: "CANCELLED_STORED" });
  assert.equal(told.filter((w) => w.code === "CANCELLED_STORED").length, 1, JSON.stringify(told));
  const { key, message } = told.find((w) => w.code === "CANCELLED_STORED");
  assert.ok(key && message.includes(key), message);
  assert.equal((await stack.debug.object(key))?.sha256, expected[`${root}/big.bin`], "the object named is the file");
  await sleep(1_000);
  assert.equal((await report("cstored")).warned.length, told.length, "told once");
});

test("a multipart file the store completed, paused while its record is deleted, is not sent again", { timeout: 180_000 }, async () => {
  // The pause drops the queue's run while the file's record is deleted
  // (the store holds the object): no record is left and no marker was
  // written. Before, the next start() sent the file again, as a second
  // upload.
  const root = randomNamespace("pause-stored");
  const expected = await makeFolder(root, [{ path: "big.bin", size: PART + 11, seed: 907 }]);
  let release;
  const held = stack.gate.injectRequest({ method: "POST", query: "uploadId", keySuffix: "/big.bin" }, { holdAnswer: new Promise((resolve) => (release = resolve)) });
  const mark = stack.gate.mark();
  await runQueue("pstored", { root, options: { namespace: root, singleRequestLimit: 1000 } });
  await held.answered; // the store completed it; its answer is held
  // The record's delete, once the answer is in, calls pause() first.
  await tab.evaluate(() => {
    const original = IDBObjectStore.prototype.delete;
    IDBObjectStore.prototype.delete = function (...args) {
      if (this.name === "uploads") {
        IDBObjectStore.prototype.delete = original;
        window.q.runs.pstored.pausedAtDelete = true;
        window.q.runs.pstored.queue.pause();
      }
      return original.apply(this, args);
    };
  });
  release();
  assert.equal((await outcomeOf("pstored")).outcome.error?.code, "PAUSED");
  assert.ok(await tab.evaluate(() => window.q.runs.pstored.pausedAtDelete), "paused while the record was deleted");
  // Stored is for good: a cancel now would leave the object unnamed.
  assert.equal(await tab.evaluate(() => window.q.runs.pstored.queue.cancel(0)), false, "the stored file is not cancelled");
  await tab.evaluate(() => window.q.start("pstored"));
  const { outcome, files } = await outcomeOf("pstored");
  assert.deepEqual(outcome.result.done.map((f) => f.relativePath), [`${root}/big.bin`], JSON.stringify(outcome));
  const [told] = files;
  assert.equal(told.skipped, true, `told as stored by the paused run: ${JSON.stringify(files)}`);
  await assertStored(outcome.result.done, expected);
  const puts = stack.gate.since(mark).map((p) => p.partNumber).sort();
  assert.deepEqual(puts, [1, 2], "each part was sent once: no second upload");
});

test("a queue cancelled while a multipart file's record is deleted (the store holds the object): onFile tells the file stored, with its key", { timeout: 180_000 }, async () => {
  const root = randomNamespace("cancel-stored");
  const expected = await makeFolder(root, [{ path: "big.bin", size: PART + 13, seed: 908 }]);
  let release;
  const held = stack.gate.injectRequest({ method: "POST", query: "uploadId", keySuffix: "/big.bin" }, { holdAnswer: new Promise((resolve) => (release = resolve)) });
  await runQueue("cstored", { root, options: { namespace: root, singleRequestLimit: 1000 } });
  await held.answered;
  await tab.evaluate(() => {
    const original = IDBObjectStore.prototype.delete;
    IDBObjectStore.prototype.delete = function (...args) {
      if (this.name === "uploads") {
        IDBObjectStore.prototype.delete = original;
        const run = window.q.runs.cstored;
        run.cancelled = run.queue.cancel();
      }
      return original.apply(this, args);
    };
  });
  release();
  const { outcome, files } = await outcomeOf("cstored");
  assert.equal(outcome.error?.code, "ABORTED", JSON.stringify(outcome));
  assert.equal(await tab.evaluate(() => window.q.runs.cstored.cancelled), false, "nothing was left to cancel");
  // Before, the file was never told of: the page did not learn where the
  // stored object is.
  assert.equal(files.length, 1, JSON.stringify(files));
  assert.ok(files[0].key && !files[0].cancelled, `told as stored: ${JSON.stringify(files)}`);
  await assertStored([{ key: files[0].key, relativePath: `${root}/big.bin` }], expected);
});

test("a file cancelled while the queue is paused: onFile says cancelled at once, running or waiting, and once", { timeout: 180_000 }, async () => {
  const root = randomNamespace("paused-cancel");
  const files = Array.from({ length: 5 }, (_, i) => ({ path: `c/f${i}.bin`, size: 13_000 + i, seed: 890 + i }));
  const expected = await makeFolder(root, files);
  const pausedWithHeld = async (name, namespace) => {
    stack.gate.holdAfter(0);
    // Two files at once: the first sends (held), the second waits for the
    // budget, the others wait.
    await runQueue(name, { root, options: { concurrency: 1, namespace } });
    await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "a request held" });
    await tab.evaluate((name) => window.q.runs[name].queue.pause(), name);
    assert.equal((await outcomeOf(name)).outcome.error?.code, "PAUSED");
    stack.gate.release();
  };
  const cancelledAtOnce = (name, indexes) =>
    waitUntil(
      async () => {
        const ended = (await report(name)).files.filter((f) => f.cancelled).map((f) => f.index);
        return indexes.every((i) => ended.includes(i)) ? ended : null;
      },
      { timeout: 5_000, what: `onFile cancelled for ${indexes} while paused` },
    );

  await pausedWithHeld("one", root);
  // File 0 was sending; file 4 waited.
  assert.deepEqual(await tab.evaluate(() => Promise.all([0, 4].map((i) => window.q.runs.one.queue.cancel(i)))), [true, true]);
  await cancelledAtOnce("one", [0, 4]);
  await tab.evaluate(() => window.q.start("one"));
  const r = await outcomeOf("one");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.deepEqual(r.outcome.result.cancelled.map((f) => f.index).sort(), [0, 4]);
  assert.equal(r.outcome.result.done.length, 3);
  assert.deepEqual(r.files.map((f) => f.index).sort(), [0, 1, 2, 3, 4], "onFile once per file");
  await assertStored(r.outcome.result.done, Object.fromEntries(Object.entries(expected).filter(([path]) => !/f[04]\.bin$/.test(path))));

  // The whole queue, while paused: every file not stored is told cancelled.
  await pausedWithHeld("all", `${root}-all`);
  assert.equal(await tab.evaluate(() => window.q.runs.all.queue.cancel()), true);
  const ended = await cancelledAtOnce("all", [0, 1, 2, 3, 4]);
  assert.equal(ended.length, 5, "once each");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a queue whose files change between runs leaves no batch listed once every file has ended", { timeout: 300_000 }, async () => {
  const root = randomNamespace("changing");
  const files = Array.from({ length: 3 }, (_, i) => ({ path: `${i === 2 ? "bad" : `ok${i}`}.bin`, size: 15_000 + i, seed: 800 + i }));
  await makeFolder(root, files);
  stack.gate.injectFile("bad.bin", { status: 403, body: "<Error><Code>AccessDenied</Code><Message>no</Message></Error>" });
  await runQueue("changing", { root, options: { namespace: root } });
  const first = await outcomeOf("changing");
  assert.equal(first.outcome.result?.failed.length, 1, JSON.stringify(first.outcome));
  assert.equal((await pending(root)).length, 1, "the half-done batch is listed");
  // More files, then start() again: the queue is another batch now.
  await tab.evaluate(async () => {
    const run = window.q.runs.changing;
    await run.queue.add([(await window.e2e.source({ name: "late.bin", size: 12_345, seed: 810 })).source]);
    window.q.start("changing");
  });
  const second = await outcomeOf("changing");
  assert.deepEqual(second.outcome.result?.failed, [], JSON.stringify(second.outcome));
  assert.equal(second.outcome.result.done.length, 4);
  assert.deepEqual(await pending(root), [], "no batch the queue wrote is left");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a queue whose failed files are cancelled one by one between runs leaves no batch listed", { timeout: 300_000 }, async () => {
  const root = randomNamespace("cancel-failed");
  const files = Array.from({ length: 4 }, (_, i) => ({ path: `${i >= 2 ? `bad${i}` : `ok${i}`}.bin`, size: 15_500 + i, seed: 1600 + i }));
  await makeFolder(root, files);
  const refused = { status: 403, body: "<Error><Code>AccessDenied</Code><Message>no</Message></Error>" };
  stack.gate.injectFile("bad2.bin", refused);
  stack.gate.injectFile("bad3.bin", refused);
  await runQueue("cancel-failed", { root, options: { namespace: root } });
  const r = await outcomeOf("cancel-failed");
  assert.equal(r.outcome.result?.failed.length, 2, JSON.stringify(r.outcome));
  assert.deepEqual((await pending(root)).map((b) => [b.files, b.filesDone]), [[4, 2]], "the half-done batch is listed");
  const [first, last] = r.outcome.result.failed.map((f) => f.index);
  const cancel = (index) => tab.evaluate((index) => window.q.runs["cancel-failed"].queue.cancel(index), index);
  assert.equal(await cancel(first), true);
  assert.equal((await pending(root)).length, 1, "a file still failed: the batch stays");
  assert.equal(await cancel(last), true);
  // Before, only a run forgot the batch: it stayed listed as half done, and
  // resumePending sent the cancelled files.
  assert.deepEqual(await pending(root), [], "every file ended: no batch is listed");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a file added as the last one ends joins the run: start() sends it and lists it", { timeout: 120_000 }, async () => {
  const specs = [{ name: "first.bin", size: 11_111, seed: 850 }, { name: "late.bin", size: 22_222, seed: 851 }];
  const expected = Object.fromEntries(specs.map((f) => [f.name, sha256(contentBytes(f))]));
  const r = await tab.evaluate(async (specs) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const [first, late] = await Promise.all(specs.map(async (spec) => (await window.e2e.source(spec)).source));
    let added = null;
    let last = null;
    const queue = new UploadQueue({
      endpoint: "/api/s3",
      onProgress(p) {
        last = p;
        // Every file ended: the run's workers have nothing left to take.
        if (p.files.done === p.files.total && added === null) added = queue.add([late]);
      },
    });
    await queue.add([first]);
    const result = await queue.start();
    const plain = (f) => ({ name: f.name, relativePath: f.relativePath, key: f.key });
    return { done: result.done.map(plain), left: result.failed.length + result.cancelled.length, added: await added, length: queue.length, last };
  }, specs);
  assert.equal(r.added, 1);
  assert.deepEqual(r.done.map((f) => f.name).sort(), ["first.bin", "late.bin"], `the late file is sent and listed: ${JSON.stringify(r)}`);
  assert.equal(r.left, 0);
  assert.deepEqual(r.last.files, { total: 2, done: 2, failed: 0 });
  await assertStored(r.done, expected);
});

test("files added while one file is still sending start at once beside it, and count in the totals", { timeout: 180_000 }, async () => {
  const root = randomNamespace("joined");
  const expected = await makeFolder(root, [
    { path: "long.bin", size: 20_000, seed: 860 },
    { path: "short.bin", size: 21_000, seed: 861 },
  ]);
  // long.bin is stored, but its answer is held: it is still sending.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  stack.gate.injectRequest({ method: "PUT", keySuffix: "/long.bin" }, { holdAnswer: held });
  try {
    await runQueue("joined", { root, options: { concurrency: 2, namespace: root } });
    await waitUntil(async () => (await report("joined")).files.some((f) => f.name === "short.bin"), { timeout: 30_000, what: "short.bin to end" });
    const late = Array.from({ length: 4 }, (_, i) => ({ name: `late-${i}.bin`, size: 30_000 + i, seed: 870 + i }));
    Object.assign(expected, Object.fromEntries(late.map((f) => [f.name, sha256(contentBytes(f))])));
    await tab.evaluate(async (specs) => {
      const files = [];
      for (const spec of specs) files.push((await window.e2e.source(spec)).source);
      await window.q.runs.joined.queue.add(files);
    }, late);
    const totals = await waitUntil(
      async () => {
        const p = (await report("joined")).lastProgress;
        return p?.files.total === 6 ? p : null;
      },
      { timeout: 5_000, what: "the added files in the totals" },
    );
    assert.equal(totals.bytes.total, 20_000 + 21_000 + late.reduce((sum, f) => sum + f.size, 0));
    // Their done markers carry the run's batch: it counts them too.
    const listed = await pending(root);
    assert.deepEqual(
      listed.map((b) => ({ files: b.files, bytes: b.bytes })),
      [{ files: 6, bytes: totals.bytes.total }],
      "the batch written at the start counts the files added while it runs",
    );
    const beside = await waitUntil(
      async () => {
        const r = await report("joined");
        return r.files.filter((f) => f.name.startsWith("late-") && f.key).length === late.length ? r : null;
      },
      { timeout: 20_000, what: "the added files stored while long.bin still sends" },
    );
    assert.ok(!beside.files.some((f) => f.name === "long.bin"), "long.bin has not ended");
  } finally {
    release();
  }
  const r = await outcomeOf("joined");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.equal(r.outcome.result.done.length, 6, "start() lists the added files");
  assert.deepEqual(r.lastProgress.files, { total: 6, done: 6, failed: 0 });
  assert.deepEqual(await pending(root), [], "the finished batch is no longer listed");
  await assertStored(r.outcome.result.done, expected);
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("a batch signing answer of the wrong length: fewer answers, the rest are signed alone; more, refused", { timeout: 180_000 }, async () => {
  const files = Array.from({ length: 8 }, (_, i) => ({ path: `b/f${i}.bin`, size: 14_000 + i, seed: 920 + i }));
  try {
    const root = randomNamespace("batch-short");
    const expected = await makeFolder(root, files);
    const before = await tab.evaluate(() => {
      window.q.tamperBatch = (body) => body.uploads.pop();
      return { ...window.q.calls };
    });
    await runQueue("short", { root, options: { concurrency: 4, namespace: root } });
    const r = await outcomeOf("short");
    assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
    assert.deepEqual(r.outcome.result.failed, [], "no file fails for an answer missing");
    await assertStored(r.outcome.result.done, expected);
    const calls = await tab.evaluate(() => ({ ...window.q.calls }));
    assert.ok(calls.batch > before.batch, "the batch route was asked");
    assert.ok(calls.params > before.params, "the files left unanswered were signed alone");

    const root2 = randomNamespace("batch-extra");
    await makeFolder(root2, files);
    // An answer first that is no file's: matched by position, each file
    // would get the one before it.
    await tab.evaluate(() => (window.q.tamperBatch = (body) => body.uploads.unshift(body.uploads.at(-1))));
    const mark = stack.gate.mark();
    await runQueue("extra", { root: root2, options: { concurrency: 4, namespace: root2 } });
    const extra = await outcomeOf("extra");
    // An answer that is not the API's would fail every file: the queue stops.
    assert.equal(extra.outcome.error?.code, "BAD_RESPONSE", JSON.stringify(extra.outcome));
    assert.ok(extra.files.length >= 3, `files refused before the queue stopped: ${extra.files.length}`);
    for (const f of extra.files) assert.equal(f.error?.code, "BAD_RESPONSE", JSON.stringify(f));
    assert.equal(wholeFilePuts(mark).length, 0, "nothing is sent to another file's URL");
    await tab.evaluate((roots) => Promise.all(roots.map((root) => window.q.remove(root))), [root, root2]);
  } finally {
    await tab.evaluate(() => (window.q.tamperBatch = null));
  }
});

test("done markers that cannot be read: start() still sends every file, with a STORAGE_FAILED warning", { timeout: 120_000 }, async () => {
  const root = randomNamespace("markers-unread");
  const files = Array.from({ length: 4 }, (_, i) => ({ path: `m/f${i}.bin`, size: 16_000 + i, seed: 940 + i }));
  const expected = await makeFolder(root, files);
  await tab.evaluate(() => {
    const getAll = IDBObjectStore.prototype.getAll;
    window.q.unpatch = () => (IDBObjectStore.prototype.getAll = getAll);
    IDBObjectStore.prototype.getAll = function (...args) {
      if (this.name === "done") throw new DOMException("the done markers cannot be read (test)", "UnknownError");
      return getAll.apply(this, args);
    };
  });
  try {
    await runQueue("unread", { root, options: { namespace: root } });
    const r = await outcomeOf("unread");
    assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
    assert.deepEqual(r.outcome.result.failed, []);
    await assertStored(r.outcome.result.done, expected);
    assert.ok(r.warnings.includes("STORAGE_FAILED"), JSON.stringify(r.warnings));
  } finally {
    await tab.evaluate(() => window.q.unpatch());
  }
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("faults on the way (500, 503, cut connections) during a batch: every file stored byte-identical", { timeout: 300_000 }, async () => {
  const root = randomNamespace("faults");
  const files = Array.from({ length: 16 }, (_, i) => ({ path: `x/f${i}.bin`, size: 30_000 + i * 1000, seed: 400 + i }));
  const expected = await makeFolder(root, files);
  const mark = stack.gate.mark();
  stack.gate.chaos({ rate: 0.3, seed: 7, kinds: [{ status: 500 }, { status: 503, body: "<Error><Code>SlowDown</Code></Error>" }, { reset: 1000 }] });
  // One cut for certain (the gate cuts the browser's own resend too).
  stack.gate.injectFile("x/f3.bin", { reset: 1000 });
  await runQueue("faults", { root, options: { concurrency: 4, retryDelays: [0, 100, 200, 400, 800] } });
  const r = await outcomeOf("faults");
  stack.gate.chaos(null);
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.deepEqual(r.outcome.result.failed, []);
  await assertStored(r.outcome.result.done, expected);
  assert.ok(wholeFilePuts(mark).some((p) => p.fault), "faults were injected into this batch");
  const cut = wholeFilePuts(mark).filter((p) => p.key?.endsWith("x/f3.bin"));
  assert.equal(cut[0]?.fault, "reset", "the file's first request was cut");
  assert.equal(cut.at(-1).state, "done", "the page's own retry stored it");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("bad input: an empty folder, the same files twice, something that is not a file", { timeout: 120_000 }, async () => {
  const root = randomNamespace("empty");
  await tab.evaluate((root) => window.q.makeEmpty(root), root);
  assert.equal(await runQueue("empty", { root }), 0);
  const r = await outcomeOf("empty");
  assert.deepEqual(r.outcome.result, { done: [], failed: [], cancelled: [] });
  const twice = await tab.evaluate(async (root) => {
    await window.q.write(root, [{ path: "a.bin", size: 10, seed: 1 }]);
    const queue = window.q.runs.empty.queue;
    return [await queue.add(await window.q.folder(root)), await queue.add(await window.q.folder(root)), queue.length];
  }, root);
  assert.deepEqual(twice, [1, 0, 1], "a file already in the queue is not added again");
  const refused = await tab.evaluate(async () => {
    try {
      await window.q.runs.empty.queue.add([42]);
      return null;
    } catch (e) {
      return { code: e.code, message: e.message };
    }
  });
  assert.equal(refused?.code, "INVALID_OPTION");
  assert.match(refused.message, /cannot add Number/);
  const limits = await tab.evaluate(async () => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const make = (singleRequestLimit) => {
      try {
        new UploadQueue({ endpoint: "/api/s3", singleRequestLimit }).free();
        return "ok";
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    };
    return [make(5 * 2 ** 30), make(5 * 2 ** 30 + 1)];
  });
  assert.equal(limits[0], "ok");
  assert.match(limits[1], /^INVALID_OPTION: .*singleRequestLimit/);
  const cancels = await tab.evaluate(async () => {
    const queue = window.q.runs.empty.queue;
    const missing = new File(["x"], "missing.bin");
    const bad = [];
    for (const index of [-1, 0.5, NaN, 1, queue.files.indexOf(missing)]) bad.push(await queue.cancel(index));
    return { bad, missing: await queue.cancel(missing), first: await queue.cancel(0) };
  });
  assert.deepEqual(cancels, { bad: [false, false, false, false, false], missing: false, first: true }, "an index of no file cancels nothing");
  await tab.evaluate((root) => window.q.remove(root), root);
});

test("part and object sizes outside S3's limits: new UploadQueue throws INVALID_OPTION, as new Upload does", { timeout: 60_000 }, async () => {
  const made = await tab.evaluate(async () => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const make = (options) => {
      try {
        new UploadQueue({ endpoint: "/api/s3", ...options }).free();
        return "ok";
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    };
    return [make({ partSize: 1 }), make({ partSize: 6 * 2 ** 30 }), make({ maxObjectSize: 0 }), make({ maxObjectSize: 2 ** 53 - 1 }), make({ maxObjectSize: 1 })];
  });
  assert.match(made[0], /^INVALID_OPTION: .*partSize/);
  assert.match(made[1], /^INVALID_OPTION: .*partSize/);
  assert.match(made[2], /^INVALID_OPTION: .*maxObjectSize/);
  assert.match(made[3], /^INVALID_OPTION: .*maxObjectSize/);
  assert.equal(made[4], "ok", "1 byte is the smallest limit");
});

test("a file over maxObjectSize fails alone with FILE_TOO_LARGE, sent whole or in parts, and never stops the queue", { timeout: 180_000 }, async () => {
  // Over the limit: three small files in a row (sent whole) and a large
  // one (multipart); then one that fits. One at a time, so the three are
  // in a row: a file's own failure, they never stop the queue.
  const mark = stack.gate.mark();
  const namespace = randomNamespace("limit");
  await tab.evaluate(async (namespace) => {
    const specs = [["big1.bin", 2000], ["big2.bin", 2001], ["big3.bin", 2002], ["large.bin", 6 * 2 ** 20], ["fits.bin", 1000]];
    const files = [];
    for (const [name, size] of specs) files.push((await window.e2e.source({ name, size, seed: size })).source);
    await window.q.run("limit", { add: files, options: { namespace, concurrency: 1, maxObjectSize: 1000 } });
  }, namespace);
  const r = await outcomeOf("limit");
  assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
  assert.deepEqual(r.outcome.result.done.map((f) => f.name), ["fits.bin"]);
  const failed = r.outcome.result.failed.map((f) => [f.name, f.error.code]);
  assert.deepEqual(failed, [["big1.bin", "FILE_TOO_LARGE"], ["big2.bin", "FILE_TOO_LARGE"], ["big3.bin", "FILE_TOO_LARGE"], ["large.bin", "FILE_TOO_LARGE"]]);
  assert.equal(wholeFilePuts(mark).length, 1, "only the file that fits is sent");
  await tab.evaluate(() => window.q.runs.limit.queue.cancel());
});

test("a file dropped on its own (a file entry) is the same file as when picked: one record, not added twice", { timeout: 60_000 }, async () => {
  const added = await tab.evaluate(async () => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const queue = new UploadQueue({ endpoint: "/api/s3" });
    const file = new File(["alone"], "alone.bin", { lastModified: 1_700_000_000_000 });
    // What `webkitGetAsEntry()` gives for a file dropped alone (the queue
    // takes entries by their shape), and its `getAsFileSystemHandle()`.
    const entry = { isFile: true, isDirectory: false, name: file.name, file: (resolve) => resolve(file) };
    const handle = { kind: "file", name: file.name, getFile: async () => file };
    const counts = [await queue.add(entry), await queue.add(file), await queue.add(handle), queue.length];
    queue.free();
    return counts;
  });
  assert.deepEqual(added, [1, 0, 0, 1], "the entry's file, the File and the handle's file are one record");
});

test("a folder with files the browser will not read: the rest are added, with a FILES_UNREADABLE warning; none readable, add() rejects with the file's error", { timeout: 120_000 }, async () => {
  const added = await tab.evaluate(async () => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const warnings = [];
    const queue = new UploadQueue({ endpoint: "/api/s3", onWarning: (w) => warnings.push({ ...w }) });
    const readable = (name) => ({ kind: "file", name, getFile: async () => new File([name], name) });
    const gone = (name) => ({ kind: "file", name, getFile: async () => Promise.reject(new DOMException("gone", "NotFoundError")) });
    // A folder the system keeps from the browser: its iterator refuses.
    const refusing = { [Symbol.asyncIterator]() { return this; }, next: () => Promise.reject(new DOMException("no", "NotAllowedError")) };
    const kept = { kind: "directory", name: "kept", values: () => refusing };
    const folder = (name, children) => ({
      kind: "directory",
      name,
      async *values() {
        yield* children;
      },
    });
    const outcome = async (input) => {
      try {
        return { added: await queue.add(input) };
      } catch (e) {
        return { code: e.code };
      }
    };
    const some = await outcome(folder("photos", [readable("a.bin"), gone("b.bin"), folder("inner", [kept, readable("c.bin")])]));
    const none = await outcome(folder("lost", [gone("d.bin")]));
    const refused = await outcome(folder("refused", [kept]));
    const names = queue.files.map((f) => f.name);
    queue.free();
    return { some, none, refused, warnings, names };
  });
  assert.deepEqual(added.some, { added: 2 }, JSON.stringify(added));
  assert.deepEqual(added.names, ["a.bin", "c.bin"]);
  assert.deepEqual(added.none, { code: "FILE_MISSING" });
  assert.deepEqual(added.refused, { code: "PERMISSION_DENIED" });
  assert.equal(added.warnings.length, 1, JSON.stringify(added.warnings));
  assert.equal(added.warnings[0].code, "FILES_UNREADABLE");
  assert.match(added.warnings[0].message, /^2 files or folders could not be read/);
  assert.match(added.warnings[0].message, /photos\/b\.bin: /);
  assert.match(added.warnings[0].message, /photos\/inner\/kept\/: /);
});

test("a folder whose files or entries the browser never answers for (a share gone away): given up after 30 s, the folder's later entries not asked, left out with FILES_UNREADABLE, and add() ends", { timeout: 180_000 }, async () => {
  const added = await tab.evaluate(async () => {
    const { UploadQueue } = await window.e2e.lib("queue");
    const warnings = [];
    const queue = new UploadQueue({ endpoint: "/api/s3", onWarning: (w) => warnings.push({ ...w }) });
    const never = () => new Promise(() => {});
    const readable = { kind: "file", name: "a.bin", getFile: async () => new File(["a"], "a.bin") };
    const stuck = Array.from({ length: 20 }, (_, i) => ({ kind: "file", name: `stuck${i}.bin`, getFile: never }));
    const silent = { kind: "directory", name: "silent", values: () => ({ [Symbol.asyncIterator]() { return this; }, next: never }) };
    const share = { kind: "directory", name: "share", async *values() { yield* [readable, ...stuck, silent]; } };
    const other = { kind: "directory", name: "other", async *values() { yield* [silent, readable]; } };
    const outcomes = [];
    for (const folder of [share, other]) {
      const began = Date.now();
      try {
        outcomes.push({ added: await queue.add(folder), seconds: (Date.now() - began) / 1000 });
      } catch (e) {
        outcomes.push({ code: e.code, message: e.message });
      }
    }
    const names = queue.files.map((f) => f.name);
    queue.free();
    return { outcomes, names, warnings };
  });
  const [share, other] = added.outcomes;
  // Before, each of the 20 files waited its 30 s: 10 minutes and more.
  assert.equal(share.added, 1, JSON.stringify(added));
  assert.ok(share.seconds >= 29 && share.seconds < 60, `one entry waited for its 30 s, the rest were not asked (${share.seconds} s)`);
  assert.equal(added.warnings.length, 1, JSON.stringify(added.warnings));
  assert.equal(added.warnings[0].code, "FILES_UNREADABLE");
  assert.match(added.warnings[0].message, /^21 files or folders could not be read/);
  assert.match(added.warnings[0].message, /share\/stuck0\.bin: .*did not answer within 30 s/);
  assert.match(added.warnings[0].message, /share\/stuck1\.bin: .*not asked, as share\/stuck0\.bin in the same folder did not answer/);
  // A folder whose entries never come is given up after 30 s too, and the
  // folder it is in asks no more: nothing read, add() rejects with the
  // first one's error.
  assert.equal(other.code, "READ_FAILED", JSON.stringify(added));
  assert.match(other.message, /other\/silent\/: the browser did not answer within 30 s/);
  assert.deepEqual(added.names, ["a.bin"]);
});

test("against a plain Uppy Companion: small files and a large one, each stored byte-identical, without checksums", { timeout: 300_000 }, async () => {
  const origin = new URL(stack.baseUrl).origin;
  const companion = await startCompanion({ storeEnv: stack.storeEnv, origins: [origin], dir: stack.tmpDir, notePid: stack.notePid });
  try {
    const root = randomNamespace("companion");
    const files = [...Array.from({ length: 5 }, (_, i) => ({ path: `c/s${i}.bin`, size: 70_000 + i, seed: 500 + i })), { path: "c/big.bin", size: PART + 99, seed: 510 }];
    const expected = await makeFolder(root, files);
    await runQueue("companion", { root, options: { endpoint: companion.s3Endpoint, concurrency: 3 } });
    const r = await outcomeOf("companion");
    assert.ok(r.outcome.result, JSON.stringify(r.outcome.error));
    assert.deepEqual(r.outcome.result.failed, []);
    await assertStored(r.outcome.result.done, expected);
    assert.deepEqual(r.warnings, ["CHECKSUM_UNSUPPORTED"], "a plain Companion signs no checksums: said once");
    await tab.evaluate((root) => window.q.remove(root), root);
  } finally {
    await companion.stop();
  }
});
