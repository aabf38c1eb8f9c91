// Cancel: the multipart upload is aborted on the store and the browser
// forgets it, both while parts are in flight and while paused.

import assert from "node:assert/strict";
import { test } from "node:test";

import { MIB, sleep, waitUntil } from "./harness.mjs";
import { card, click, openDemo, randomNamespace, trackStorePuts, waitForStatus, waitReady } from "./demo.mjs";
import { pending } from "./in-page.mjs";
import { assertNothingLeft, pickAndHold, useStack } from "./steps.mjs";

const PART = 5 * MIB;

const stack = useStack("abort");

async function assertGone(page, namespace, record) {
  // No record in IndexedDB, no multipart upload on the store, and no object.
  await assertNothingLeft(stack, page, namespace, record);
  assert.equal(await stack.debug.object(record.key), null, "no object is stored");
  // After a reload nothing is offered for resuming.
  await page.reload();
  await waitReady(page);
  assert.equal(await page.locator("#pending-section").isHidden(), true);
  assert.equal(await page.locator("#pending-list .pending-item").count(), 0);
}

test("cancel mid-upload aborts on the store and forgets the upload", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("abort");
  const file = await stack.makeFile("cancel-me.bin", 5 * PART);
  const page = stack.page;
  await openDemo(stack, page, { namespace, partSize: PART, concurrency: 2 });
  const puts = trackStorePuts(page, stack.storeOrigin);

  const record = await pickAndHold(stack, page, file, namespace, 2); // the upload has a stored record while it runs
  const onStore = (await stack.debug.uploads()).filter((u) => u.key === record.key);
  assert.deepEqual(onStore, [{ key: record.key, uploadId: record.uploadId }], "the upload is in progress on the store");
  assert.equal((await stack.debug.parts(record.key, record.uploadId)).length, 2);

  await click(page, file.name, "cancel");
  const cancelled = await waitForStatus(page, file.name, ["cancelled", "error", "done"], 30_000);
  assert.equal(cancelled.status, "cancelled", `after Cancel: ${JSON.stringify(cancelled.error)}`);
  const shown = card(page, file.name);
  assert.equal(await shown.locator(".status").innerText(), "cancelled");
  for (const action of ["pause", "resume", "cancel"]) {
    assert.equal(await shown.locator(`[data-action="${action}"]`).isVisible(), false, `no ${action} button after cancel`);
  }
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 10_000, what: "the held part requests to be cancelled" });

  // Nothing more is sent once cancelled.
  puts.reset();
  const mark = stack.gate.mark();
  stack.gate.release();
  await sleep(1_500);
  puts.dispose();
  assert.equal(puts.count, 0, "no part PUT after cancel");
  assert.deepEqual(stack.gate.since(mark), []);

  await assertGone(page, namespace, record);
  assert.deepEqual(stack.browserErrors, []);
});

test("cancel while paused aborts on the store and forgets the upload", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("abort-paused");
  const file = await stack.makeFile("cancel-paused.bin", 4 * PART + 1);
  const page = stack.page;
  await openDemo(stack, page, { namespace, partSize: PART, concurrency: 2 });

  await pickAndHold(stack, page, file, namespace, 1);
  await click(page, file.name, "pause");
  const paused = await waitForStatus(page, file.name, ["paused", "error", "done"], 15_000);
  assert.equal(paused.status, "paused", `after Pause: ${JSON.stringify(paused.error)}`);
  stack.gate.release();
  const record = (await pending(page, namespace)).find((p) => p.fileName === file.name);
  assert.ok(record, "the paused upload has a stored record");
  assert.equal((await stack.debug.uploads()).filter((u) => u.key === record.key).length, 1);

  await click(page, file.name, "cancel");
  const cancelled = await waitForStatus(page, file.name, ["cancelled", "error", "done"], 30_000);
  assert.equal(cancelled.status, "cancelled", `after Cancel: ${JSON.stringify(cancelled.error)}`);

  await assertGone(page, namespace, record);
  assert.deepEqual(stack.browserErrors, []);
});
