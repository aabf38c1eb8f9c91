// Pause then resume on the same page: pausing stops the requests in flight
// and nothing goes out while paused; resuming sends the rest.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { MIB, sleep, startStack, waitUntil } from "./harness.mjs";
import {
  card,
  click,
  entry,
  listPending,
  openDemo,
  pickFiles,
  randomNamespace,
  range,
  trackStorePuts,
  waitDone,
  waitForStatus,
  waitPartsDone,
} from "./demo.mjs";

const PART = 5 * MIB;

let stack;
before(async () => {
  stack = await startStack({ label: "pause" });
});
after(async () => {
  await stack?.stop();
});

test("pause stops the upload, nothing is sent while paused, resume completes it", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("pause");
  const TOTAL = 7; // 6 parts of 5 MiB and one of 7 bytes
  const K = 2;
  const file = await stack.makeFile("pause-me.bin", 6 * PART + 7);
  const page = stack.page;
  await openDemo(stack, page, { namespace, partSize: PART, concurrency: 2 });
  const puts = trackStorePuts(page, stack.storeOrigin);

  stack.gate.holdAfter(K);
  await pickFiles(page, file.path);
  await waitUntil(() => stack.gate.completedCount() >= K && stack.gate.heldOpen() >= 1, {
    timeout: 60_000,
    what: `${K} parts stored and a later one in flight`,
  });
  await waitPartsDone(page, file.name, K, 30_000);
  const shown = card(page, file.name);
  assert.equal(await shown.locator('[data-action="pause"]').isVisible(), true);
  assert.equal(await shown.locator('[data-action="resume"]').isVisible(), false);

  // Pause: the page says so and the requests in flight are stopped.
  await click(page, file.name, "pause");
  const paused = await waitForStatus(page, file.name, ["paused", "error", "done"], 15_000);
  assert.equal(paused.status, "paused", `after Pause: ${JSON.stringify(paused.error)}`);
  assert.equal(await shown.locator(".status").innerText(), "paused");
  assert.equal(await shown.locator('[data-action="resume"]').isVisible(), true);
  assert.equal(await shown.locator('[data-action="pause"]').isVisible(), false);
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 10_000, what: "the held part requests to be cancelled by pause()" });

  // While paused, nothing is sent, even with the gate open.
  puts.reset();
  const pausedMark = stack.gate.mark();
  stack.gate.release();
  const sentWhenPaused = (await entry(page, file.name)).sentBytes;
  await sleep(2_000);
  assert.equal(puts.count, 0, "no part PUT while paused");
  assert.deepEqual(stack.gate.since(pausedMark), []);
  const stillPaused = await entry(page, file.name);
  assert.equal(stillPaused.status, "paused");
  assert.equal(stillPaused.sentBytes, sentWhenPaused, "no bytes sent while paused");

  // The store has exactly the K parts that got through.
  const record = (await listPending(page, namespace)).find((p) => p.fileName === file.name);
  assert.ok(record, "the paused upload keeps its stored record");
  const storedParts = (await stack.debug.parts(record.key, record.uploadId)).map((p) => p.PartNumber).sort((a, b) => a - b);
  assert.equal(storedParts.length, K);
  const missing = range(1, TOTAL).filter((n) => !storedParts.includes(n));

  // Resume on the same page.
  await click(page, file.name, "resume");
  const done = await waitDone(page, file.name, 120_000);
  puts.dispose();
  assert.equal(done.starts, 2, "start() was called again to resume");
  assert.equal(done.result.uploadId, record.uploadId, "the same multipart upload continues");
  assert.equal(puts.count, TOTAL - K, `part PUTs after resuming: ${JSON.stringify(puts.partNumbers())}`);
  assert.deepEqual(puts.partNumbers(), missing, "only the missing parts are sent, each once");
  assert.deepEqual(stack.gate.since(pausedMark).map((p) => p.state), Array(missing.length).fill("done"));
  assert.equal(await shown.locator(".parts").innerText(), `parts ${TOTAL}/${TOTAL}`);
  assert.match(await shown.locator(".status").innerText(), /^done: stored as /);

  const object = await stack.debug.object(done.result.key);
  assert.ok(object, `no object stored at ${done.result.key}`);
  assert.equal(object.size, file.size);
  assert.equal(object.sha256, file.sha256);
  assert.deepEqual((await stack.debug.uploads()).filter((u) => u.key === done.result.key), []);
  assert.deepEqual(await listPending(page, namespace), []);
  assert.deepEqual(stack.browserErrors, []);
});
