// The library's JavaScript API called directly in the page: typed errors for
// bad input and bad backend answers, start() twice, pause() then start() at
// once, abort() after completion, IndexedDB missing or full, uploads changed
// or expired between page loads, and which build of the package has the
// static lookups. Runs in every engine (E2E_BROWSER).

import assert from "node:assert/strict";
import http from "node:http";

import { retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, sleep, waitUntil } from "./harness.mjs";
import { openDemo, randomNamespace, waitReady } from "./demo.mjs";
import { clearPending, findPrevious, installHelpers, pending, resume, startUpload, waitOutcome } from "./in-page.mjs";
import { closeNow, listenOnLoopback } from "./loopback.mjs";
import { assertObject, pauseHeld, reloadMidUpload, startAndHold, useStack } from "./steps.mjs";

const stack = useStack("api");
const test = retriedOnEngineFault(() => ({ stack }));

test("bad input gets a typed ResuploadError naming what to fix", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  await installHelpers(tab);
  const results = await tab.evaluate(async () => {
    const { Upload } = await window.e2e.lib();
    const blob = new Blob([new Uint8Array(11)]);
    const attempt = (file, options) => {
      try {
        new Upload(file, options);
        return { ok: true };
      } catch (e) {
        // A brand check: in Firefox this code runs in WebDriver's sandbox,
        // whose Error is not the page's, so instanceof would say no.
        const isError = Object.prototype.toString.call(e) === "[object Error]";
        return { isError, name: e.name, code: e.code, message: e.message };
      }
    };
    const endpoint = "/api/s3";
    return {
      notAFile: attempt("not a file", { endpoint }),
      noOptions: attempt(blob, undefined),
      noEndpoint: attempt(blob, {}),
      badEndpoint: attempt(blob, { endpoint: "not a url" }),
      tinyParts: attempt(blob, { endpoint, partSize: 1024 }),
      hugeParts: attempt(blob, { endpoint, partSize: 6 * 2 ** 30 }),
      fractionalParts: attempt(blob, { endpoint, partSize: 5 * 2 ** 20 + 0.5 }),
      zeroConcurrency: attempt(blob, { endpoint, concurrency: 0 }),
      absurdConcurrency: attempt(blob, { endpoint, concurrency: 100000 }),
      badDelays: attempt(blob, { endpoint, retryDelays: ["soon"] }),
      delaysNotArray: attempt(blob, { endpoint, retryDelays: 5 }),
      badMetadata: attempt(blob, { endpoint, metadata: { n: 1 } }),
      mapMetadata: attempt(blob, { endpoint, metadata: new Map([["project", "x"]]) }),
      // Endpoints that pass a prefix check, then fail as retried NETWORK errors or 404s.
      noHost: attempt(blob, { endpoint: "https://" }),
      spaceInHost: attempt(blob, { endpoint: "http://exa mple.com/s3" }),
      credentialsInEndpoint: attempt(blob, { endpoint: "https://user:pw@host/s3" }),
      queryInEndpoint: attempt(blob, { endpoint: "/api/s3?v=1" }),
      fragmentInEndpoint: attempt(blob, { endpoint: "/api/s3#x" }),
      // Headers that Object.assign would drop (a Headers, a Map) or that fetch refuses.
      headersObject: attempt(blob, { endpoint, headers: new Headers({ authorization: "Bearer t" }) }),
      headersMap: attempt(blob, { endpoint, headers: new Map([["authorization", "Bearer t"]]) }),
      headerNameNotToken: attempt(blob, { endpoint, headers: { "x y": "v" } }),
      headerValueLineBreak: attempt(blob, { endpoint, headers: { authorization: "Bearer t\r\nx-injected: 1" } }),
      headerValueNul: attempt(blob, { endpoint, headers: { authorization: "Bearer t\0" } }),
      headerValueAboveLatin1: attempt(blob, { endpoint, headers: { authorization: "Bearer \u20ac" } }),
      fineHeaders: attempt(blob, { endpoint, headers: { authorization: "Bearer t", "x-note": "caf\u00e9" } }),
      fineNullProtoHeaders: attempt(blob, { endpoint, headers: Object.assign(Object.create(null), { authorization: "Bearer t" }) }),
      // Metadata names the server would drop or merge.
      metadataNameSpace: attempt(blob, { endpoint, metadata: { "Project Name": "x" } }),
      metadataNameNotAscii: attempt(blob, { endpoint, metadata: { "\u00f1": "x" } }),
      metadataNameEmpty: attempt(blob, { endpoint, metadata: { "": "x" } }),
      metadataNamesByCase: attempt(blob, { endpoint, metadata: { Project: "a", project: "b" } }),
      fineMetadata: attempt(blob, { endpoint, metadata: { "project-name": "x", Owner_ID: "7", "v1.2": "y" } }),
      // A streaming source's fields are named as the source's.
      sourceName: attempt({ id: "s", size: 1, name: 5, read: () => new Uint8Array(1) }, { endpoint }),
      sourceType: attempt({ id: "s", size: 1, type: 5, read: () => new Uint8Array(1) }, { endpoint }),
      badCallback: attempt(blob, { endpoint, onProgress: "yes" }),
      tooLarge: attempt(blob, { endpoint, maxObjectSize: 10 }),
      fine: attempt(blob, { endpoint, maxObjectSize: 11 }),
    };
  });
  const expect = (name, code, ...words) => {
    const r = results[name];
    assert.equal(r.isError, true, `${name}: ${JSON.stringify(r)}`);
    assert.equal(r.name, "ResuploadError", name);
    assert.equal(r.code, code, `${name}: ${r.message}`);
    for (const word of words) assert.match(r.message, new RegExp(word), `${name}: ${r.message}`);
  };
  expect("notAFile", "NOT_A_FILE", "File or Blob", "FileSystemFileHandle", "streaming source");
  expect("noOptions", "INVALID_OPTION", "endpoint");
  expect("noEndpoint", "INVALID_OPTION", "endpoint", "required");
  expect("badEndpoint", "INVALID_OPTION", "endpoint", "\"not a url\" is not a URL");
  expect("tinyParts", "INVALID_OPTION", "partSize", "5 MiB");
  expect("hugeParts", "INVALID_OPTION", "partSize", "5 GiB");
  expect("fractionalParts", "INVALID_OPTION", "partSize", "whole");
  expect("zeroConcurrency", "INVALID_OPTION", "concurrency");
  expect("absurdConcurrency", "INVALID_OPTION", "concurrency");
  expect("badDelays", "INVALID_OPTION", "retryDelays");
  expect("delaysNotArray", "INVALID_OPTION", "retryDelays");
  expect("badMetadata", "INVALID_OPTION", "metadata");
  expect("mapMetadata", "INVALID_OPTION", "metadata", "not a Map", "Object.fromEntries");
  expect("noHost", "INVALID_OPTION", "`endpoint`", "host");
  expect("spaceInHost", "INVALID_OPTION", "`endpoint`", "whitespace");
  expect("credentialsInEndpoint", "INVALID_OPTION", "`endpoint`", "credentials");
  expect("queryInEndpoint", "INVALID_OPTION", "`endpoint`", "query");
  expect("fragmentInEndpoint", "INVALID_OPTION", "`endpoint`", "fragment");
  expect("headersObject", "INVALID_OPTION", "`headers`", "plain object");
  expect("headersMap", "INVALID_OPTION", "`headers`", "plain object");
  expect("headerNameNotToken", "INVALID_OPTION", "`headers`", "\"x y\" is not an HTTP header name");
  expect("headerValueLineBreak", "INVALID_OPTION", "`headers`", "authorization");
  expect("headerValueNul", "INVALID_OPTION", "`headers`", "authorization");
  expect("headerValueAboveLatin1", "INVALID_OPTION", "`headers`", "U\\+00FF");
  assert.deepEqual(results.fineHeaders, { ok: true });
  assert.deepEqual(results.fineNullProtoHeaders, { ok: true });
  expect("metadataNameSpace", "INVALID_OPTION", "`metadata`", "\"Project Name\"");
  expect("metadataNameNotAscii", "INVALID_OPTION", "`metadata`", "\u00f1");
  expect("metadataNameEmpty", "INVALID_OPTION", "`metadata`", "\"\"");
  expect("metadataNamesByCase", "INVALID_OPTION", "`metadata`", "given once");
  assert.deepEqual(results.fineMetadata, { ok: true });
  expect("sourceName", "INVALID_OPTION", "`source\\.name`");
  expect("sourceType", "INVALID_OPTION", "`source\\.type`");
  expect("badCallback", "INVALID_OPTION", "onProgress");
  expect("tooLarge", "FILE_TOO_LARGE", "11 bytes");
  assert.deepEqual(results.fine, { ok: true });
});

test("start() twice is refused, pause() then start() at once completes, abort() after completion is refused", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  await installHelpers(tab);
  const namespace = randomNamespace("api");
  const size = 12 * MIB + 5;
  const out = await tab.evaluate(
    async ({ namespace, size }) => {
      const { Upload } = await window.e2e.lib();
      const { source: file, sha256 } = await window.e2e.source({ name: "api-test.bin", size });
      const codeOf = (p) => p.then(() => "resolved", (e) => e.code);

      const upload = new Upload(file, { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20, concurrency: 1 });
      const first = codeOf(upload.start());
      const second = await codeOf(upload.start());
      upload.pause();
      const resumed = upload.start(); // at once: waits for the paused run to wind down
      const firstCode = await first;
      const result = await resumed;
      const afterDone = await codeOf(upload.abort());
      const startAgain = await codeOf(upload.start());
      const pending = await (await window.e2e.lib("pending")).Upload.listPending({ namespace });
      return { second, firstCode, result: { ...result }, afterDone, startAgain, pending: pending.length, sha256 };
    },
    { namespace, size },
  );
  assert.equal(out.second, "ALREADY_RUNNING");
  assert.equal(out.firstCode, "PAUSED");
  assert.equal(out.afterDone, "ALREADY_COMPLETED");
  assert.equal(out.startAgain, "ALREADY_COMPLETED");
  assert.equal(out.pending, 0, "no record is left after completion");
  assert.match(out.result.key, /api-test\.bin$/);
  await assertObject(stack, out.result.key, out.sha256, size);
});

test("Files, Blobs and ArrayBuffers made in another realm (an iframe) upload like the page's own, alone, streamed and in a queue", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  await installHelpers(tab);
  const namespace = randomNamespace("realm");
  const size = 6 * MIB + 3;
  const out = await tab.evaluate(
    async ({ namespace, size }) => {
      const frame = document.createElement("iframe");
      document.body.append(frame);
      const other = frame.contentWindow;
      // Random bytes: a pattern of a short period would make every part
      // start alike, and a part read at the wrong offset pass.
      const bytes = new Uint8Array(size);
      for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
      const file = new other.File([bytes], "iframe.bin", { lastModified: 1_700_000_000_000 });
      const small = new other.File([bytes.subarray(0, 1000)], "small.bin");
      const options = { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20 };
      const codeOf = (e) => ({ code: e.code, message: e.message });
      try {
        const { Upload } = await window.e2e.lib();
        const alone = await new Upload(file, options).start();
        const read = (offset, length) => new other.Blob([bytes.subarray(offset, offset + length)]);
        const streamed = await new Upload({ id: "realm-stream", size, read }, options).start();
        // The same bytes as the iframe's ArrayBuffers.
        const buffers = (offset, length) => new other.Uint8Array(bytes.subarray(offset, offset + length)).buffer;
        const buffered = await new Upload({ id: "realm-buffers", size, read: buffers }, options).start();
        const { UploadQueue } = await window.e2e.lib("queue");
        const queue = new UploadQueue(options);
        await queue.add(small);
        const queued = await queue.start();
        const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
        return {
          instances: [file instanceof File, file instanceof Blob],
          sha256: hex(await crypto.subtle.digest("SHA-256", bytes)),
          smallSha256: hex(await crypto.subtle.digest("SHA-256", bytes.subarray(0, 1000))),
          instancesOfBuffer: [buffers(0, 1) instanceof ArrayBuffer, ArrayBuffer.isView(buffers(0, 1))],
          keys: { alone: alone.key, streamed: streamed.key, buffered: buffered.key },
          queued: queued.done.map((f) => ({ name: f.name, key: f.key })),
        };
      } catch (e) {
        return { error: codeOf(e) };
      } finally {
        frame.remove();
      }
    },
    { namespace, size },
  );
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.deepEqual(out.instances, [false, false], "the iframe's File is no instance of the page's File or Blob");
  assert.match(out.keys.alone, /iframe\.bin$/, "the File's own name");
  await assertObject(stack, out.keys.alone, out.sha256, size);
  await assertObject(stack, out.keys.streamed, out.sha256, size);
  assert.deepEqual(out.instancesOfBuffer, [false, false], "the iframe's ArrayBuffer is no instance of the page's, nor a view");
  await assertObject(stack, out.keys.buffered, out.sha256, size);
  assert.deepEqual(out.queued.map((f) => f.name), ["small.bin"], "the queue takes the File, with its name");
  await assertObject(stack, out.queued[0].key, out.smallSha256, 1000);
});

// Uploads a file of `size` bytes with IndexedDB broken by `breakScript` (run
// in the page before the upload starts), pauses it once a part is stored and
// resumes it within the page (the record lives in memory); answers the run's
// report. The page is reloaded after, which mends IndexedDB.
async function uploadWithBrokenStorage(breakScript, namespace, size, options = {}) {
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace });
  await installHelpers(tab);
  await tab.evaluate(breakScript);
  try {
    // The pending build: its findPrevious sees the record this run keeps in memory.
    const spec = { file: { name: "no-storage.bin", size }, options: { namespace, concurrency: 1, ...options }, build: "pending" };
    await startAndHold(stack, tab, "broken", spec, 1);
    await pauseHeld(stack, tab, "broken");
    await resume(tab, "broken");
    const run = await waitOutcome(tab, "broken");
    assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
    await assertObject(stack, run.outcome.result.key, run.sha256, size);
    return run;
  } finally {
    // Once the reloaded page has read IndexedDB (see engines.test.mjs's
    // test without IndexedDB: WPE 2.38 otherwise left it unanswering).
    await tab.reload();
    await waitReady(tab);
  }
}

test("without IndexedDB the upload completes from memory, resumes within the page, and warns once", { timeout: 120_000 }, async () => {
  // With stage: "opfs", which needs IndexedDB to note the copy in.
  const run = await uploadWithBrokenStorage(() => {
    IDBFactory.prototype.open = function () {
      throw new DOMException("The user denied permission to access the database.", "SecurityError");
    };
  }, randomNamespace("noidb"), 16 * MIB + 9, { stage: "opfs" });
  assert.equal(run.resumes.length, 1, "start() after pause() resumed the upload from the record in memory");
  assert.ok(run.resumes[0].skippedParts >= 1, JSON.stringify(run.resumes));
  assert.deepEqual(run.warnings.sort(), ["STAGING_SKIPPED", "STORAGE_UNAVAILABLE"]);
});

test("a full IndexedDB (QuotaExceededError) moves the upload to memory with one STORAGE_FULL warning", { timeout: 120_000 }, async () => {
  const run = await uploadWithBrokenStorage(() => {
    const put = IDBObjectStore.prototype.put;
    let writes = 0;
    IDBObjectStore.prototype.put = function (...args) {
      writes += 1;
      if (writes > 2) throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
      return put.apply(this, args);
    };
  }, randomNamespace("fullidb"), 16 * MIB + 9);
  assert.equal(run.resumes.length, 1, "start() after pause() resumed the upload from the record in memory");
  assert.ok(run.resumes[0].skippedParts >= 1, JSON.stringify(run.resumes));
  assert.deepEqual(run.warnings, ["STORAGE_FULL"]);
});

// Opens the demo, starts run `name` of `file` (one part at a time), and
// pauses it once a part is stored.
async function pauseAfterOnePart(name, file, namespace) {
  await openDemo(stack, stack.tab);
  await startAndHold(stack, stack.tab, name, { file, options: { namespace, concurrency: 1 } }, 1);
  await pauseHeld(stack, stack.tab, name);
}

// Opens the demo, starts run "first" of `file` (one part at a time), and
// reloads the page once a part is stored; answers the stored record.
async function storeOnePartThenReload(namespace, file) {
  await openDemo(stack, stack.tab);
  const record = await startAndHold(stack, stack.tab, "first", { file, options: { namespace, concurrency: 1 } }, 1);
  await reloadMidUpload(stack, stack.tab);
  return record;
}

test("findPrevious(file) with no endpoint or namespace finds the file's upload under any", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("find-any");
  const file = { name: "find-me.bin", size: 16 * MIB + 5 };
  const before = await storeOnePartThenReload(namespace, file);
  await installHelpers(tab);
  const found = await tab.evaluate(async (file) => {
    const { Upload } = await window.e2e.lib("pending");
    const { source } = await window.e2e.source(file);
    const any = await Upload.findPrevious(source);
    const elsewhere = await Upload.findPrevious(source, { endpoint: "/elsewhere/api/s3" });
    return { any: any && { ...any }, elsewhere };
  }, file);
  assert.equal(found.any?.uploadId, before.uploadId, JSON.stringify(found));
  assert.equal(found.any.namespace, namespace);
  assert.equal(found.elsewhere, null, "an endpoint given limits it");
  await clearPending(tab, namespace);
});

test("an upload aborted on the server between two page loads restarts afresh and says so", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("expired");
  const file = { name: "expire-me.bin", size: 16 * MIB + 3 };
  const before = await storeOnePartThenReload(namespace, file);
  const aborted = await fetch(new URL("/api/debug/abort-all", stack.baseUrl), { method: "POST" });
  assert.equal(aborted.status, 200);
  assert.equal((await findPrevious(tab, file, namespace))?.uploadId, before.uploadId, "the record survived the reload");
  await startUpload(tab, "again", { file, options: { namespace }, events: ["onRestart"] });
  const run = await waitOutcome(tab, "again");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.events.onRestart, [{ reason: "expired" }]);
  assert.deepEqual(run.resumes, []);
  assert.notEqual(run.outcome.result.uploadId, before.uploadId, "a new multipart upload");
  await assertObject(stack, run.outcome.result.key, run.sha256);
});

test("onExpiringSoon on a resume inside the warning window; clearPending forgets and aborts", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("soon");
  const options = { namespace, concurrency: 1 };
  const file = { name: "soon.bin", size: 11 * MIB };
  await openDemo(stack, tab);
  const previous = await startAndHold(stack, tab, "first", { file, options }, 1);
  await pauseHeld(stack, tab, "first");
  // A one-hour lifecycle rule with a two-hour warning: any resume warns.
  const warnSoon = { ...options, expiresAfter: 3_600_000, expiryWarning: 7_200_000 };
  await startUpload(tab, "second", { file, options: warnSoon, events: ["onExpiringSoon"] });
  const second = await waitOutcome(tab, "second");
  assert.ok(second.outcome.result, JSON.stringify(second.outcome.error));
  assert.deepEqual(second.events.onExpiringSoon, [{ uploadId: previous.uploadId, expiresAt: previous.createdAt + 3_600_000 }]);
  assert.equal(second.outcome.result.uploadId, previous.uploadId, "it resumed");
  await assertObject(stack, second.outcome.result.key, second.sha256);

  const third = await startAndHold(stack, tab, "third", { file: { ...file, name: "forget-me.bin" }, options }, 1);
  await pauseHeld(stack, tab, "third");
  const cleared = await clearPending(tab, namespace);
  assert.equal(cleared, 1);
  assert.deepEqual(await pending(tab, namespace), []);
  assert.ok(!(await stack.debug.uploads()).some((u) => u.key === third.key), "clearPending aborted it on the server");
});

// Stores a part of a file and reloads; then uploads `change(file)` (a run's
// file spec) and checks that it restarted afresh.
async function changeBetweenLoads(namespace, change) {
  const tab = stack.tab;
  const file = { name: "changing.bin", size: 16 * MIB + 3, lastModified: 1_700_000_000_000 };
  const before = await storeOnePartThenReload(namespace, file);
  await startUpload(tab, "changed", { file: change(file), options: { namespace }, events: ["onRestart"] });
  const run = await waitOutcome(tab, "changed");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.events.onRestart, [{ reason: "file-changed" }]);
  assert.deepEqual(run.resumes, [], "nothing of the old upload is reused");
  assert.notEqual(run.outcome.result.uploadId, before.uploadId);
  assert.deepEqual(await pending(tab, namespace), [], "the old record is gone");
  assert.ok(!(await stack.debug.uploads()).some((u) => u.uploadId === before.uploadId), "the old upload was aborted on the server");
  await assertObject(stack, run.outcome.result.key, run.sha256);
}

test("a file with the same name and size but a new date restarts (file-changed)", { timeout: 120_000 }, async () => {
  await changeBetweenLoads(randomNamespace("newdate"), (file) => ({ ...file, lastModified: file.lastModified + 60_000 }));
});

test("a file with the same name, size and date but new content restarts (file-changed)", { timeout: 120_000 }, async () => {
  // One byte in the middle sample.
  await changeBetweenLoads(randomNamespace("newbytes"), (file) => ({ ...file, flip: [file.size >> 1] }));
});

/**
 * A backend on a loopback port of its own whose create route
 * (`POST /api/s3/multipart`) answers `backend.answer` ({ status,
 * contentType, body }) and whose part signing route
 * (`GET /api/s3/multipart/:uploadId/:partNumber`) answers the JSON
 * `backend.signAnswer`; anything else is 404. It allows the page's origin.
 */
async function startFaultyBackend(origin) {
  const cors = { "access-control-allow-origin": origin, "access-control-allow-headers": "content-type", "access-control-allow-methods": "GET, POST" };
  const backend = { answer: null, signAnswer: null, creates: 0 };
  const server = http.createServer((request, response) => {
    request.resume();
    if (request.method === "OPTIONS") return response.writeHead(204, cors).end();
    const signing = /^\/api\/s3\/multipart\/[^/]+\/\d+$/.test(new URL(request.url, "http://x").pathname);
    if (request.method === "GET" && signing && backend.signAnswer) {
      return response.writeHead(200, { ...cors, "content-type": "application/json" }).end(JSON.stringify(backend.signAnswer));
    }
    if (request.method !== "POST" || new URL(request.url, "http://x").pathname !== "/api/s3/multipart") return response.writeHead(404, cors).end();
    backend.creates += 1;
    const { status, contentType, body } = backend.answer;
    response.writeHead(status, { ...cors, "content-type": contentType }).end(body);
  });
  backend.endpoint = `${await listenOnLoopback(server)}/api/s3`;
  backend.stop = () => closeNow(server);
  return backend;
}

test("a backend answering non-JSON, a 500, or JSON of the wrong shape gets a typed error", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const backend = await startFaultyBackend(new URL(stack.baseUrl).origin);
  try {
    await openDemo(stack, tab);
    const tryWith = async (answer) => {
      backend.answer = answer;
      const options = { endpoint: backend.endpoint, namespace: "bad-backend", retryDelays: [0] };
      await startUpload(tab, "bad", { file: { name: "bad-backend.bin", size: 1000 }, options });
      return (await waitOutcome(tab, "bad")).outcome;
    };
    const html = await tryWith({ status: 200, contentType: "text/html", body: "<html>login page</html>" });
    assert.equal(html.error?.code, "BAD_RESPONSE", JSON.stringify(html));
    assert.match(html.error.message, /not JSON/);
    const failing = await tryWith({ status: 500, contentType: "text/html", body: "<h1>Internal Server Error</h1>" });
    assert.equal(failing.error?.code, "HTTP_STATUS", JSON.stringify(failing));
    assert.equal(failing.error.status, 500);
    const shape = await tryWith({ status: 200, contentType: "application/json", body: JSON.stringify({ upload: "x" }) });
    assert.equal(shape.error?.code, "BAD_RESPONSE", JSON.stringify(shape));
    assert.match(shape.error.message, /Companion/);
    assert.ok(backend.creates >= 3, `each answer came from the create route (${backend.creates} creates)`);
  } finally {
    await backend.stop();
  }
});

test("a part signed with a URL the browser cannot parse, or not http(s), gets BAD_RESPONSE", { timeout: 120_000 }, async () => {
  // (A relative URL is the page's origin's, as a request sent to it is.)
  // Sent, it would fail as a network error, retried in vain.
  const tab = stack.tab;
  const backend = await startFaultyBackend(new URL(stack.baseUrl).origin);
  try {
    await openDemo(stack, tab);
    backend.answer = { status: 200, contentType: "application/json", body: JSON.stringify({ key: "uploads/x", uploadId: "u1" }) };
    for (const url of ["http://[not-a-host/part", "ftp://store.example/part", "data:,part"]) {
      backend.signAnswer = { url };
      const options = { endpoint: backend.endpoint, namespace: "bad-url", retryDelays: [0] };
      await startUpload(tab, "bad-url", { file: { name: "bad-url.bin", size: 1000 }, options });
      const outcome = (await waitOutcome(tab, "bad-url")).outcome;
      assert.equal(outcome.error?.code, "BAD_RESPONSE", `${url}: ${JSON.stringify(outcome)}`);
      assert.match(outcome.error.message, /an http\(s\) URL/);
    }
  } finally {
    await backend.stop();
  }
});

test("listPending removes records past expiry", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("stale");
  const file = { name: "stale.bin", size: 11 * MIB };
  await pauseAfterOnePart("stale", file, namespace);
  assert.equal((await pending(tab, namespace)).length, 1);
  await sleep(20);
  assert.deepEqual(await pending(tab, namespace, { expiresAfter: 10 }), []);
  assert.equal(await findPrevious(tab, file, namespace), null, "the expired record was deleted, not only hidden");
});

test("a lookup's options that are not an object, or expiresAfter 0, reject with INVALID_OPTION; no stored upload is touched", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("kept");
  const file = { name: "kept.bin", size: 11 * MIB };
  await pauseAfterOnePart("kept", file, namespace);
  const held = await pending(tab, namespace);
  assert.equal(held.length, 1);
  const refused = await tab.evaluate(async (other) => {
    const { Upload } = await window.e2e.lib("pending");
    const codeOf = (call) => call().then((v) => ({ resolved: String(v) }), (e) => ({ code: e.code, message: e.message }));
    return {
      // A bare namespace string read as no namespace would forget every stored upload.
      clearString: await codeOf(() => Upload.clearPending(other)),
      clearArray: await codeOf(() => Upload.clearPending([other])),
      listNumber: await codeOf(() => Upload.listPending(42)),
      // expiresAfter 0 would remove every record as expired, and the constructor refuses it.
      listExpiredAtOnce: await codeOf(() => Upload.listPending({ expiresAfter: 0 })),
      clearExpiredAtOnce: await codeOf(() => Upload.clearPending({ namespace: other, expiresAfter: 0 })),
    };
  }, randomNamespace("other"));
  const codes = Object.fromEntries(Object.entries(refused).map(([call, outcome]) => [call, outcome.code ?? outcome]));
  const expected = Object.fromEntries(Object.keys(refused).map((call) => [call, "INVALID_OPTION"]));
  assert.deepEqual(codes, expected);
  assert.match(refused.clearString.message, /`namespace`.*must be an object/);
  assert.match(refused.listExpiredAtOnce.message, /`expiresAfter`/);
  assert.deepEqual((await pending(tab, namespace)).map((p) => p.uploadId), [held[0].uploadId], "the record of another namespace survives");
  assert.ok((await stack.debug.uploads()).some((u) => u.uploadId === held[0].uploadId), "and its upload on the server");
  assert.equal(await clearPending(tab, namespace), 1);
});

test("the default build's lookups reject with NOT_IN_BUILD; resupload/pending lists and forgets its uploads", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("builds");
  const file = { name: "builds.bin", size: 11 * MIB };
  await pauseAfterOnePart("builds", file, namespace);
  const refused = await tab.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib();
    const source = window.e2e.runs.builds.source;
    const codeOf = (call) => call().then(() => ({ resolved: true }), (e) => ({ code: e.code, message: e.message }));
    return {
      findPrevious: await codeOf(() => Upload.findPrevious(source, { endpoint: "/api/s3", namespace })),
      listPending: await codeOf(() => Upload.listPending({ namespace })),
      clearPending: await codeOf(() => Upload.clearPending({ namespace })),
      resumePending: await codeOf(() => Upload.resumePending({}, {})),
    };
  }, namespace);
  for (const [call, outcome] of Object.entries(refused)) {
    assert.equal(outcome.code, "NOT_IN_BUILD", `${call}: ${JSON.stringify(outcome)}`);
    assert.match(outcome.message, new RegExp(`Upload\\.${call} .*"resupload/pending"`), call);
  }
  // The record the default build stored is the same to the pending build.
  const listed = await pending(tab, namespace);
  assert.deepEqual(listed.map((p) => [p.fileName, p.partsDone]), [["builds.bin", 1]]);
  const cleared = await clearPending(tab, namespace);
  assert.equal(cleared, 1);
  assert.deepEqual(await pending(tab, namespace), []);
  // Not an entry of listPending: the app's mistake, not "pick the file again"
  // (before, NO_HANDLE).
  const notEntries = await tab.evaluate(async () => {
    const { Upload } = await window.e2e.lib("pending");
    const codeOf = (entry) => Upload.resumePending(entry).then(() => "resolved", (e) => `${e.code}: ${e.message}`);
    return [await codeOf({}), await codeOf(null), await codeOf({ name: "a batch", files: 3, filesDone: 1 })];
  });
  for (const outcome of notEntries) assert.match(outcome, /^INVALID_OPTION: invalid option `entry`: give resumePending an entry of Upload\.listPending\(\)/);
});

test("an Upload let go of after its runs is collected with its file: nothing keeps it", { timeout: 120_000 }, async (t) => {
  const tab = stack.tab;
  if (!tab.page) return t.skip("collecting garbage on demand needs Chromium's DevTools protocol");
  await openDemo(stack, tab);
  await installHelpers(tab);
  const outcome = await tab.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib();
    const file = new File([new Uint8Array(6 * 2 ** 20)], "let-go.bin");
    window.letGo = new WeakRef(file);
    const upload = new Upload(file, { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20 });
    // A run paused at once, then one to the end.
    const paused = upload.start();
    upload.pause();
    const first = await paused.then(() => "done", (e) => e.code);
    const done = await upload.start();
    upload.free();
    return { first, key: done.key };
  }, randomNamespace("let-go"));
  assert.equal(outcome.first, "PAUSED");
  const cdp = await tab.page.context().newCDPSession(tab.page);
  try {
    await waitUntil(
      async () => {
        await cdp.send("HeapProfiler.collectGarbage");
        return tab.evaluate(() => window.letGo.deref() === undefined);
      },
      { timeout: 10_000, interval: 200, what: "the File of a freed Upload to be collected" },
    );
  } finally {
    await cdp.detach();
  }
});

test("an upgrade of the database blocked past the open timeout by an old tab still makes its stores once that tab lets go", { timeout: 180_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  // A tab of an older build: the database at version 3, its connection
  // kept open and deaf to versionchange, so the library's upgrade waits.
  await tab.evaluate(async () => {
    await new Promise((resolve, reject) => {
      const deleting = indexedDB.deleteDatabase("resupload");
      deleting.onsuccess = resolve;
      deleting.onerror = () => reject(deleting.error);
    });
    window.oldDb = await new Promise((resolve, reject) => {
      const opening = indexedDB.open("resupload", 3);
      opening.onupgradeneeded = () => opening.result.createObjectStore("uploads", { keyPath: "id" });
      opening.onsuccess = () => resolve(opening.result);
      opening.onerror = () => reject(opening.error);
    });
  });
  const stores = () => tab.evaluate(() => window.e2e.idb(async (db) => ({ version: db.version, names: [...db.objectStoreNames].sort() })));
  try {
    // The upload goes on in memory once the open times out.
    const { sha256 } = await startUpload(tab, "blocked", { file: { name: "blocked.bin", size: 1000 }, options: { namespace: randomNamespace("blocked-upgrade") } });
    const run = await waitOutcome(tab, "blocked", 150_000);
    assert.ok(run.outcome.result, JSON.stringify(run.outcome));
    assert.ok(run.warnings.includes("STORAGE_UNAVAILABLE"), JSON.stringify(run.warnings));
    await assertObject(stack, run.outcome.result.key, sha256);
  } finally {
    await tab.evaluate(() => window.oldDb.close());
  }
  // The old tab let go: the upgrade asked for before runs, and makes every store.
  await waitUntil(async () => (await stores()).version === 4, { timeout: 10_000, what: "the blocked upgrade to run" });
  assert.deepEqual((await stores()).names, ["batches", "done", "handles", "parts", "uploads"]);
});

test("two Blobs of one size are two uploads: started together both complete, and a paused one resumes after the other", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  await installHelpers(tab);
  const namespace = randomNamespace("blobs");
  const out = await tab.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib("pending");
    const options = { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20 };
    const blob = (seed) => new Blob([new Uint8Array(11 * 2 ** 20).map((_, i) => (i * 7 + seed) & 255)]);
    const code = (p) => p.then((r) => r.key, (e) => e.code);
    // Started together (before, the second was refused as another tab's: UPLOAD_LOCKED).
    const [a, b] = [blob(1), blob(2)];
    const together = await Promise.all([code(new Upload(a, options).start()), code(new Upload(b, options).start())]);
    // One paused, the other uploaded meanwhile, then the first resumed
    // (before, the second aborted the first's upload as "file-changed").
    const [c, d] = [blob(3), blob(4)];
    const restarts = [];
    const resumes = [];
    const upload = (file, on = {}) => new Upload(file, { ...options, onRestart: (r) => restarts.push(r.reason), ...on });
    let partDone;
    const stored = new Promise((resolve) => (partDone = resolve));
    const held = upload(c, { concurrency: 1, onPartComplete: () => partDone() });
    const heldRun = code(held.start());
    await stored;
    held.pause();
    const pausedCode = await heldRun;
    const foundBefore = await Upload.findPrevious(c, { endpoint: "/api/s3", namespace });
    const other = await code(upload(d).start());
    const foundAfter = await Upload.findPrevious(c, { endpoint: "/api/s3", namespace });
    const resumed = await code(upload(c, { onResume: (r) => resumes.push(r.skippedParts) }).start());
    return { together, pausedCode, foundBefore: foundBefore?.uploadId ?? null, foundAfter: foundAfter?.uploadId ?? null, other, resumed, resumes, restarts };
  }, namespace);
  assert.equal(out.together.filter((k) => typeof k === "string" && k.startsWith("uploads/")).length, 2, JSON.stringify(out.together));
  assert.equal(out.pausedCode, "PAUSED");
  assert.ok(out.foundBefore, "the paused Blob's upload is found");
  assert.equal(out.foundAfter, out.foundBefore, "still there after the other Blob's upload");
  assert.ok(out.other.startsWith("uploads/"), out.other);
  assert.ok(out.resumed.startsWith("uploads/"), out.resumed);
  // Part 2 may be stored too by the pause: part 1's callback comes after its
  // state is saved, while part 2 is on the wire (3 parts in all).
  assert.ok(out.resumes.length === 1 && [1, 2].includes(out.resumes[0]), `resumed, its stored parts skipped: ${JSON.stringify(out.resumes)}`);
  assert.deepEqual(out.restarts, []);
});
