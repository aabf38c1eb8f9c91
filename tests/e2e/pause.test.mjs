// Pause then resume on the same page: pausing stops the requests in flight
// and nothing goes out while paused; resuming sends the rest.

import assert from "node:assert/strict";
import { test } from "node:test";

import { MIB, sleep, waitUntil } from "./harness.mjs";
import { card, click, entry, openDemo, randomNamespace, range, trackStorePuts, waitDone, waitForStatus } from "./demo.mjs";
import { pending } from "./in-page.mjs";
import { assertNothingLeft, assertObject, pickAndHold, useStack } from "./steps.mjs";

const PART = 5 * MIB;

const stack = useStack("pause");

test("pause stops the upload, nothing is sent while paused, resume completes it", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("pause");
  const TOTAL = 7; // 6 parts of 5 MiB and one of 7 bytes
  const K = 2;
  const file = await stack.makeFile("pause-me.bin", 6 * PART + 7);
  const page = stack.page;
  await openDemo(stack, page, { namespace, partSize: PART, concurrency: 2 });
  const puts = trackStorePuts(page, stack.storeOrigin);

  await pickAndHold(stack, page, file, namespace, K);
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
  const record = (await pending(page, namespace)).find((p) => p.fileName === file.name);
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

  await assertObject(stack, done.result.key, file.sha256, file.size);
  await assertNothingLeft(stack, page, namespace, done.result);
  assert.deepEqual(stack.browserErrors, []);
});
