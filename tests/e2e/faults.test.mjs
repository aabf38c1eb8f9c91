// Faults between the browser and the store, injected by the store gate for
// chosen parts: 500 and 503 SlowDown, a connection cut midway, a stall, 429
// with Retry-After, 403 "Request has expired", an answer without ETag. Each
// upload must end byte-identical, or fail with the error that says why.
// Runs in every engine (E2E_BROWSER), but for the two tests that need
// Playwright (taking the browser offline, holding a backend request).

import assert from "node:assert/strict";
import { test } from "node:test";

import { MIB, sleep, waitUntil } from "./harness.mjs";
import { openDemo, randomNamespace } from "./demo.mjs";
import { startUpload, waitOutcome } from "./in-page.mjs";
import { assertObject, useStack } from "./steps.mjs";

const stack = useStack("faults");
const PLAYWRIGHT_ONLY = (process.env.E2E_BROWSER || "chromium") !== "chromium" && "needs Playwright (Chromium)";

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
  const mark = stack.gate.mark();
  stack.gate.inject(1, { reset: 1 * MIB });
  const out = await upload({ namespace: randomNamespace("reset"), retryDelays: [0, 100] });
  await assertStored(out);
  const part1 = stack.gate.since(mark).filter((p) => p.partNumber === 1);
  assert.deepEqual(part1.map((p) => p.fault), ["reset", null]);
});

test("a stalled part is aborted after stallTimeout and sent again", { timeout: 120_000 }, async () => {
  const mark = stack.gate.mark();
  stack.gate.inject(2, { stall: true });
  const out = await upload({ namespace: randomNamespace("stall"), stallTimeout: 1500, retryDelays: [0] });
  await assertStored(out);
  const part2 = stack.gate.since(mark).filter((p) => p.partNumber === 2);
  assert.deepEqual(part2.map((p) => p.fault), ["stall", null]);
  assert.ok(part2[1].at - part2[0].at >= 1400, "the part was sent again only once the stall timeout ran out");
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

test("offline: part requests wait for the online event, then the upload goes on", { timeout: 120_000, skip: PLAYWRIGHT_ONLY && `${PLAYWRIGHT_ONLY}: its context goes offline` }, async () => {
  const page = stack.page;
  const mark = stack.gate.mark();
  stack.gate.holdAfter(1);
  const running = upload({ namespace: randomNamespace("offline"), concurrency: 1, retryDelays: [0, 100] });
  await waitUntil(() => stack.gate.heldOpen() === 1, { timeout: 30_000, what: "the second part to be held" });
  await stack.context.setOffline(true);
  stack.gate.release();
  await sleep(2000);
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  const onlineAt = Date.now();
  await stack.context.setOffline(false);
  const out = await running;
  await assertStored(out);
  const late = stack.gate.since(mark).filter((p) => p.state === "done" && p.at >= onlineAt);
  assert.ok(late.length >= 1, "parts went out once the browser was back online");
  const failedWhileOffline = stack.gate.since(mark).filter((p) => p.at > onlineAt - 2000 && p.at < onlineAt && p.state === "done");
  assert.equal(failedWhileOffline.length, 0, "nothing reached the store while offline");
});

test("a backend request with no answer times out and is retried", { timeout: 120_000, skip: PLAYWRIGHT_ONLY && `${PLAYWRIGHT_ONLY}: its routing holds the request` }, async () => {
  const page = stack.page;
  let signCalls = 0;
  const isSignOfPart1 = (url) => /\/api\/s3\/multipart\/[^/]+\/1$/.test(url.pathname);
  await page.route(isSignOfPart1, (route) => {
    signCalls += 1;
    if (signCalls === 1) return; // never answered
    return route.continue();
  });
  try {
    const out = await upload({ namespace: randomNamespace("backend-timeout"), stallTimeout: 1500, retryDelays: [0] });
    await assertStored(out);
    assert.equal(signCalls, 2, "the unanswered signing request was given up and sent again");
    assert.ok(out.ms >= 1400, `it waited for the timeout (${out.ms} ms)`);
  } finally {
    await page.unroute(isSignOfPart1);
  }
});
