// Faults between the browser and the store, injected by the store gate for
// chosen parts: 500 and 503 SlowDown, a connection cut midway, a part
// stored whose answer is lost, a stall, 429 with Retry-After, 403 "Request
// has expired", an answer without ETag; and an upload the store forgets
// midway. Each upload must end byte-identical,
// or fail with the error that says why. A backend request left unanswered
// is held by a proxy in front of the dev server; the browser goes offline
// where its driver can take it there (Chromium, Firefox). Runs in every
// engine (E2E_BROWSER).

import assert from "node:assert/strict";

import { AbortMultipartUploadCommand } from "@aws-sdk/client-s3";

import { storeClient } from "./backend-client.mjs";
import { retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, sleep, waitUntil, withTimeout } from "./harness.mjs";
import { openDemo, randomNamespace } from "./demo.mjs";
import { startUpload, waitOutcome } from "./in-page.mjs";
import { holdingProxy } from "./loopback.mjs";
import { assertObject, startAndHold, useStack } from "./steps.mjs";

const stack = useStack("faults");
const test = retriedOnEngineFault(() => ({ stack }));

const PART = 5 * MIB;
const SIZE = 3 * PART + 777; // 4 parts

/** Uploads a file of SIZE bytes from a fresh page with `options`; answers the run's report. */
async function upload(options) {
  await openDemo(stack, stack.tab);
  await startUpload(stack.tab, "faulty", { file: { name: "faulty.bin", size: SIZE }, options: { concurrency: 2, ...options } });
  return waitOutcome(stack.tab, "faulty");
}

async function assertStored(run) {
  assert.ok(run.outcome.result, `the upload failed: ${JSON.stringify(run.outcome.error)}`);
  await assertObject(stack, run.outcome.result.key, run.sha256, SIZE);
}

test("500 and 503 SlowDown are retried", { timeout: 120_000 }, async () => {
  const mark = stack.gate.mark();
  stack.gate.inject(2, { status: 500, body: "<Error><Code>InternalError</Code></Error>" }, { status: 500 });
  stack.gate.inject(3, { status: 503, body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>" });
  const out = await upload({ namespace: randomNamespace("5xx"), retryDelays: [0, 100, 100] });
  await assertStored(out);
  const puts = stack.gate.since(mark);
  assert.deepEqual(puts.filter((p) => p.partNumber === 2).map((p) => p.status), [500, 500, 200]);
  assert.deepEqual(puts.filter((p) => p.partNumber === 3).map((p) => p.status), [503, 200]);
});

test("a connection cut midway through a part is retried", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  await watchPartSends(tab);
  const mark = stack.gate.mark();
  stack.gate.inject(1, { reset: 1 * MIB });
  await startUpload(tab, "reset", { file: { name: "faulty.bin", size: SIZE }, options: { namespace: randomNamespace("reset"), concurrency: 2, retryDelays: [0, 100] } });
  const out = await waitOutcome(tab, "reset");
  await assertStored(out);
  // Cut (twice where the browser sent it again on a new connection
  // itself: store-gate.mjs), then stored.
  const part1 = stack.gate.since(mark).filter((p) => p.partNumber === 1).map((p) => p.fault);
  assert.ok(part1.length >= 2 && part1.at(-1) === null && part1.slice(0, -1).every((f) => f === "reset"), JSON.stringify(part1));
  // Sent again by the library (before, the browser's own resend passed
  // for it, and the test could not fail).
  const sends = await tab.evaluate(() => window.partSends.filter((s) => s.part === 1).length);
  assert.equal(sends, 2, "the page sent part 1 twice");
});

test("a part the store took whose answer was lost is not sent again: the part list shows it", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  await watchPartSends(tab);
  // The store takes the first part PUT, and the gate cuts its answer off;
  // the second fault takes the browser's own resend on a new connection
  // where it makes one (store-gate.mjs), else the next part's PUT.
  const cut = { method: "PUT", query: "partNumber" };
  const first = stack.gate.injectRequest(cut, { cutAnswer: true });
  stack.gate.injectRequest(cut, { cutAnswer: true });
  await startUpload(tab, "lost", { file: { name: "faulty.bin", size: SIZE }, options: { namespace: randomNamespace("lost"), concurrency: 1, retryDelays: [0, 100] } });
  const out = await waitOutcome(tab, "lost");
  stack.gate.reset();
  await assertStored(out);
  assert.equal(await first.answered, 200, "the store took the part");
  // Before, the page sent the part again in full.
  const sends = await tab.evaluate(() => window.partSends.map((s) => s.part));
  assert.deepEqual(sends, [1, 2, 3, 4], "each part sent once by the page");
});

test("a complete the store takes longer than stallTimeout to answer still completes", { timeout: 120_000 }, async () => {
  // Every CompleteMultipartUpload answered 3 s late (a large upload on AWS
  // takes minutes), against a stall timeout of 2 s.
  const late = { then: (resolve) => setTimeout(resolve, 3_000) };
  const holds = Array.from({ length: 6 }, () =>
    stack.gate.injectRequest({ method: "POST", query: "uploadId", keySuffix: "faulty.bin" }, { holdAnswer: late }),
  );
  try {
    const out = await upload({ namespace: randomNamespace("slow-complete"), stallTimeout: 2_000, retryDelays: [0, 100, 100] });
    // Before, every try of the complete was cut at 2 s: NETWORK.
    await assertStored(out);
    assert.equal(await withTimeout(holds[0].answered, 10_000, "the held complete's answer"), 200, "the complete was held, and the store completed it");
  } finally {
    stack.gate.reset();
  }
});

test("a stalled part is aborted after stallTimeout and sent again", { timeout: 120_000 }, async () => {
  const mark = stack.gate.mark();
  stack.gate.inject(2, { stall: true });
  // Every request of the run has this timeout: more than one retry, so
  // that one slow answer elsewhere on a loaded machine does not end it.
  const out = await upload({ namespace: randomNamespace("stall"), stallTimeout: 1500, retryDelays: [0, 0, 0] });
  await assertStored(out);
  const part2 = stack.gate.since(mark).filter((p) => p.partNumber === 2);
  assert.deepEqual(part2.map((p) => p.fault), ["stall", null]);
  assert.ok(part2[1].at - part2[0].at >= 1400, "the part was sent again only once the stall timeout ran out");
  // The stalled request is aborted, not left sending beside its retry.
  assert.equal(part2[0].state, "dropped", "the browser closed the stalled request");
  assert.ok(part2[0].droppedAt <= part2[1].at + 500, `closed when it was given up (${part2[0].droppedAt - part2[1].at} ms after the retry came)`);
});

/**
 * Keeps, in the page's `window.partSends`, which part requests listened to
 * their upload progress ({ part, watched, online }): the sender sets
 * `upload.onprogress` only on the requests it watches; `online` is
 * `navigator.onLine` when it was sent.
 */
async function watchPartSends(tab) {
  await tab.evaluate(() => {
    window.partSends = [];
    const { open, send } = XMLHttpRequest.prototype;
    XMLHttpRequest.prototype.open = function (method, url, ...rest) {
      this.sentTo = new URL(url, location.href);
      return open.call(this, method, url, ...rest);
    };
    XMLHttpRequest.prototype.send = function (body) {
      const part = Number(this.sentTo?.searchParams.get("partNumber"));
      if (part) window.partSends.push({ part, watched: this.upload.onprogress !== null, online: navigator.onLine });
      return send.call(this, body);
    };
  });
}

test("a part sent unwatched while parts go fast, given up at stallTimeout, is sent again with its progress watched", { timeout: 120_000 }, async () => {
  // Parts under 3.75 s go unwatched (an eighth): a loaded machine's 5 MiB
  // part stays well under it.
  const STALL_MS = 30_000;
  const tab = stack.tab;
  await openDemo(stack, tab);
  await watchPartSends(tab);
  const mark = stack.gate.mark();
  stack.gate.inject(3, { stall: true });
  await startUpload(tab, "unwatched", { file: { name: "faulty.bin", size: SIZE }, options: { namespace: randomNamespace("unwatched"), concurrency: 1, stallTimeout: STALL_MS, retryDelays: [0] } });
  const out = await waitOutcome(tab, "unwatched");
  await assertStored(out);
  const sends = await tab.evaluate(() => window.partSends);
  assert.deepEqual(sends.slice(0, 3).map((s) => [s.part, s.watched]), [[1, true], [2, false], [3, false]], `parts 1 and 2 went fast, so parts 2 and 3 went unwatched: ${JSON.stringify(sends)}`);
  assert.deepEqual(sends.filter((s) => s.part === 3).map((s) => s.watched), [false, true], "the retry of the part given up is watched");
  const part3 = stack.gate.since(mark).filter((p) => p.partNumber === 3);
  assert.deepEqual(part3.map((p) => p.fault), ["stall", null]);
  assert.ok(part3[1].at - part3[0].at >= STALL_MS - 100, "the unwatched part was given up at the stall timeout, counted from its start");
});

test("a fast error answer does not turn progress watching off: the part's retry is watched", { timeout: 120_000 }, async () => {
  const STALL_MS = 60_000; // parts under 7.5 s go unwatched; no stall is waited for
  const tab = stack.tab;
  await openDemo(stack, tab);
  await watchPartSends(tab);
  // A 503 answered at once says nothing of the link's speed (before, it
  // counted as a fast part, and the retry went unwatched).
  stack.gate.inject(1, { status: 503, body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>" });
  await startUpload(tab, "fast-error", { file: { name: "fast-error.bin", size: SIZE }, options: { namespace: randomNamespace("fast-error"), concurrency: 1, stallTimeout: STALL_MS, retryDelays: [0] } });
  const out = await waitOutcome(tab, "fast-error");
  await assertStored(out);
  const sends = await tab.evaluate(() => window.partSends);
  assert.deepEqual(sends.slice(0, 3).map((s) => [s.part, s.watched]), [[1, true], [1, true], [2, false]], JSON.stringify(sends));
});

test("an upload the store forgets midway (NoSuchUpload on a part) starts afresh once and completes", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  const namespace = randomNamespace("gone-midway");
  const spec = { file: { name: "gone-midway.bin", size: SIZE }, options: { namespace, concurrency: 1 }, events: ["onRestart"] };
  const mark = stack.gate.mark();
  const record = await startAndHold(stack, tab, "gone", spec, 2); // part 3 is held
  // The store forgets the upload (as when it expires there); the backend
  // still has it as in progress.
  const store = storeClient(stack.storeEnv);
  await store.send(new AbortMultipartUploadCommand({ Bucket: stack.storeEnv.S3_BUCKET, Key: record.key, UploadId: record.uploadId }));
  store.destroy();
  stack.gate.release(); // the held part 3 reaches the store, which answers 404 NoSuchUpload
  const run = await waitOutcome(tab, "gone");
  await assertStored(run);
  assert.deepEqual(run.events.onRestart, [{ reason: "expired" }]);
  assert.notEqual(run.outcome.result.uploadId, record.uploadId, "a new multipart upload");
  const puts = stack.gate.since(mark);
  // The store refuses the part before its body and closes the connection:
  // the browser sees its 404 (Chromium) or a network error (Firefox,
  // WebKit; and through the gate, which loses the early answer at times).
  const old = puts.filter((p) => p.uploadId === record.uploadId);
  assert.deepEqual(old.filter((p) => p.state === "done").map((p) => p.partNumber), [1, 2], "the forgotten upload had parts 1 and 2");
  const refused = old.filter((p) => p.state !== "done");
  assert.ok(refused.length >= 1, "the held part went to the forgotten upload");
  assert.deepEqual(refused.filter((p) => p.partNumber !== 3), [], "only part 3 was sent to it after it was forgotten");
  const fresh = puts.filter((p) => p.uploadId === run.outcome.result.uploadId);
  assert.deepEqual(fresh.map((p) => [p.partNumber, p.state]).sort(), [[1, "done"], [2, "done"], [3, "done"], [4, "done"]], "every part sent once to the new upload");
  assert.deepEqual((await stack.debug.uploads()).filter((u) => u.key === record.key), [], "no multipart upload left for the key");
});

test("429 with Retry-After waits at least that long", { timeout: 120_000 }, async () => {
  const mark = stack.gate.mark();
  stack.gate.inject(2, { status: 429, headers: { "retry-after": "2" }, body: "<Error><Code>SlowDown</Code></Error>" });
  const out = await upload({ namespace: randomNamespace("429"), retryDelays: [0] });
  await assertStored(out);
  const part2 = stack.gate.since(mark).filter((p) => p.partNumber === 2);
  assert.equal(part2.length, 2);
  const waited = part2[1].at - part2[0].at;
  assert.ok(waited >= 1900, `the retry came ${waited} ms after the 429, not after Retry-After's 2 s`);
});

test("403 Request has expired signs the part again and goes on", { timeout: 120_000 }, async () => {
  const mark = stack.gate.mark();
  stack.gate.inject(4, {
    status: 403,
    body: "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
  });
  const out = await upload({ namespace: randomNamespace("expired-url"), retryDelays: [0] });
  await assertStored(out);
  assert.deepEqual(
    stack.gate.since(mark).filter((p) => p.partNumber === 4).map((p) => p.status),
    [403, 200],
  );
});

test("another 403 fails at once with HTTP_STATUS", { timeout: 120_000 }, async () => {
  stack.gate.inject(1, { status: 403, body: "<Error><Code>SignatureDoesNotMatch</Code></Error>" });
  const { outcome } = await upload({ namespace: randomNamespace("403"), retryDelays: [0, 100] });
  assert.equal(outcome.error?.code, "HTTP_STATUS", JSON.stringify(outcome));
  assert.match(outcome.error.message, /403/);
});

test("a part answer without ETag fails with the CORS message, not a hang", { timeout: 120_000 }, async () => {
  stack.gate.inject(1, { dropEtag: true });
  const { outcome } = await upload({ namespace: randomNamespace("noetag"), concurrency: 1 });
  assert.equal(outcome.error?.code, "MISSING_ETAG", JSON.stringify(outcome));
  assert.match(outcome.error.message, /CORS/);
  assert.match(outcome.error.message, /ETag/);
});

test("offline: part requests wait for the online event, then the upload goes on", { timeout: 120_000 }, async (t) => {
  const tab = stack.tab;
  if (!(await stack.browser.setOffline(false))) return t.skip(`${stack.browserName}'s driver cannot take it offline`);
  // Back online whatever happens, for the tests after this one.
  t.after(() => stack.browser.setOffline(false));
  const mark = stack.gate.mark();
  stack.gate.holdAfter(1);
  await openDemo(stack, tab);
  await watchPartSends(tab);
  await startUpload(tab, "faulty", { file: { name: "faulty.bin", size: SIZE }, options: { namespace: randomNamespace("offline"), concurrency: 1, retryDelays: [0, 100] } });
  const running = waitOutcome(tab, "faulty");
  await waitUntil(() => stack.gate.heldOpen() === 1, { timeout: 30_000, what: "the second part to be held" });
  await stack.browser.setOffline(true);
  // Firefox's offline mode refuses new connections only, so the rest of a
  // lost link is cut here. (Chromium's fails every request; cut, it would
  // send a request again on a new connection below its emulation.)
  if (stack.browser.offlineKeepsConnections) stack.gate.cutConnections();
  stack.gate.release();
  await sleep(2000);
  assert.equal(await tab.evaluate(() => navigator.onLine), false);
  const onlineAt = Date.now();
  await stack.browser.setOffline(false);
  const out = await running;
  await assertStored(out);
  const late = stack.gate.since(mark).filter((p) => p.state === "done" && p.at >= onlineAt);
  assert.ok(late.length >= 1, "parts went out once the browser was back online");
  // The page's own sends: a part tried while offline fails at once; its
  // retry waits for the online event. With retry delays of 0 and 100 ms, a
  // library that did not wait would have spent them all within the 2 s
  // offline (three sends), and failed.
  const sends = await tab.evaluate(() => window.partSends);
  const offline = sends.filter((s) => !s.online).map((s) => s.part);
  assert.equal(new Set(offline).size, offline.length, `no part sent again while offline: ${JSON.stringify(sends)}`);
  for (const part of offline) assert.ok(sends.some((s) => s.part === part && s.online), `part ${part} sent again once online`);
});

test("offline: abort() and clearPending() end with NETWORK after their retries, keeping what they could not abort", { timeout: 120_000 }, async (t) => {
  const tab = stack.tab;
  if (!(await stack.browser.setOffline(false))) return t.skip(`${stack.browserName}'s driver cannot take it offline`);
  // Its offline mode refuses new connections only: the abort would reach
  // the backend on the connection the page already has.
  if (stack.browser.offlineKeepsConnections) return t.skip(`${stack.browserName} offline keeps its connections to the backend`);
  t.after(() => stack.browser.setOffline(false));
  const namespace = randomNamespace("offline-abort");
  await openDemo(stack, tab);
  const spec = { file: { name: "kept.bin", size: SIZE }, options: { namespace, concurrency: 1, retryDelays: [0, 100] } };
  await startAndHold(stack, tab, "kept", spec, 1);
  await stack.browser.setOffline(true);
  stack.gate.release();
  const aborted = await tab.evaluate(async () => {
    try {
      await window.e2e.runs.kept.upload.abort();
      return { ok: true };
    } catch (e) {
      return { code: e.code };
    }
  });
  assert.deepEqual(aborted, { code: "NETWORK" }, "abort() ends, with the network's error");
  const cleared = await tab.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib("pending");
    return Upload.clearPending({ namespace });
  }, namespace);
  assert.equal(cleared, 1, "clearPending() ends, and forgets the upload (left to the store's rule)");
  await stack.browser.setOffline(false);
});

/**
 * A holding proxy in front of the dev server (loopback.mjs), whose address
 * the page calls as its `endpoint`: the dev server's test-time CORS
 * answers the page. Answers `{ endpoint, calls, close }`.
 */
async function holdingBackend(hold) {
  const proxy = await holdingProxy(stack.baseUrl, hold);
  return { ...proxy, endpoint: `${proxy.origin}/api/s3` };
}

const isSignOfPart1 = ({ method, path }) => method === "GET" && /\/api\/s3\/multipart\/[^/]+\/1$/.test(path);

for (const [how, what] of [
  ["silent", "a backend request with no answer times out and is retried"],
  ["body", "a backend answer whose body stalls after its headers times out and is retried"],
  ["cut", "a backend answer cut off mid-body is retried as a network error (not BAD_RESPONSE)"],
]) {
  test(what, { timeout: 120_000 }, async () => {
    // The first signing of part 1 is held.
    let signs = 0;
    const backend = await holdingBackend((request) => isSignOfPart1(request) && ++signs === 1 && how);
    try {
      // Retries to spare: the timeout is every request's, not the held one's alone.
      const out = await upload({ endpoint: backend.endpoint, namespace: randomNamespace(`backend-${how}`), stallTimeout: 1500, retryDelays: [0, 0, 0] });
      await assertStored(out);
      const signsOfPart1 = backend.calls.filter(isSignOfPart1);
      assert.equal(signsOfPart1.length, 2, `the held signing request was given up and sent again: ${JSON.stringify(backend.calls)}`);
      if (how !== "cut") assert.ok(out.ms >= 1400, `it waited for the timeout (${out.ms} ms)`);
    } finally {
      await backend.close();
    }
  });
}
