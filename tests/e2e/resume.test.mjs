// Resume after a reload: the page is reloaded while parts are in flight; after
// the reload it lists the unfinished upload, the same file is picked again,
// and only the parts the store does not have are sent.

import assert from "node:assert/strict";
import { test } from "node:test";

import { MIB } from "./harness.mjs";
import { card, entry, openDemo, pickFiles, randomNamespace, range, trackStorePuts, waitDone } from "./demo.mjs";
import { assertNothingLeft, assertObject, pickAndHold, reloadMidUpload, useStack } from "./steps.mjs";

const PART = 5 * MIB;

const stack = useStack("resume");

test("an upload cut by a reload resumes and sends only the missing parts", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("resume");
  const TOTAL = 9; // 8 parts of 5 MiB and one of 123 bytes
  const K = 3; // parts the store gets before the reload
  const file = await stack.makeFile("resume-me.bin", 8 * PART + 123);
  const page = stack.page;
  const params = { namespace, partSize: PART, concurrency: 2 };
  await openDemo(stack, page, params);

  // Let K parts through, hold every later one: the reload then comes while
  // parts are in flight, and the store has exactly K parts. The stored
  // record keeps the progress (what the page lists after a reload).
  const record = await pickAndHold(stack, page, file, namespace, K);
  const before = await entry(page, file.name);
  assert.equal(before.status, "uploading");
  assert.equal(before.partsDone, K);
  assert.equal(before.partsTotal, TOTAL);
  assert.equal(record.partsTotal, TOTAL);
  assert.equal(record.partSize, PART);

  // Reload mid-upload; count only what the page sends after the reload.
  const puts = trackStorePuts(page, stack.storeOrigin);
  await reloadMidUpload(stack, page);
  puts.reset();
  const gateMark = stack.gate.mark();

  // The store has exactly the K parts that got through.
  const onStore = (await stack.debug.uploads()).filter((u) => u.key === record.key);
  assert.equal(onStore.length, 1, `one multipart upload in progress for ${record.key}`);
  assert.equal(onStore[0].uploadId, record.uploadId);
  const storedParts = (await stack.debug.parts(record.key, record.uploadId)).map((p) => p.PartNumber).sort((a, b) => a - b);
  assert.equal(storedParts.length, K);
  const missing = range(1, TOTAL).filter((n) => !storedParts.includes(n));

  // The page lists the unfinished upload and asks for the file again.
  const pendingItem = page.locator(`#pending-list .pending-item[data-file-name="${file.name}"]`);
  await pendingItem.waitFor({ state: "visible", timeout: 10_000 });
  assert.ok(await page.locator("#pending-section").isVisible());
  const pendingText = await pendingItem.innerText();
  assert.match(pendingText, /resume-me\.bin/);
  assert.match(pendingText, /40\.0 MiB/); // the file's size
  assert.match(pendingText, new RegExp(`${K} of ${TOTAL} parts`));
  assert.equal(await page.locator("#upload-list .upload-card").count(), 0, "no upload card before the file is picked");

  // Picking the same file resumes it.
  await pickFiles(page, file.path);
  const done = await waitDone(page, file.name, 120_000);
  puts.dispose();

  assert.ok(done.resumed, "onResume was called");
  assert.ok(done.resumed.skippedParts >= K, `skippedParts ${done.resumed.skippedParts} >= ${K}`);
  assert.equal(done.resumed.skippedParts, storedParts.length, "every part the store had is skipped");
  assert.equal(done.resumed.skippedBytes, K * PART);
  assert.equal(done.resumed.uploadId, record.uploadId, "the same multipart upload continues");
  assert.equal(done.result.uploadId, record.uploadId);
  assert.equal(done.result.key, record.key);
  const shown = card(page, file.name);
  assert.match(await shown.locator(".resumed").innerText(), new RegExp(`^resumed: ${K} parts skipped`));
  assert.equal(await shown.locator(".parts").innerText(), `parts ${TOTAL}/${TOTAL}`);
  assert.equal(await page.locator("#pending-section").isHidden(), true, "the unfinished upload is no longer listed");

  // Only the missing parts went out after the reload, each once.
  assert.equal(puts.count, TOTAL - storedParts.length, `part PUTs after the reload: ${JSON.stringify(puts.partNumbers())}`);
  assert.deepEqual(puts.partNumbers(), missing);
  assert.deepEqual(
    stack.gate.since(gateMark).map((p) => p.state),
    Array(missing.length).fill("done"),
  );

  // The object is the file; nothing is left behind.
  await assertObject(stack, record.key, file.sha256, file.size);
  await assertNothingLeft(stack, page, namespace, record);
  assert.deepEqual(stack.browserErrors, []);
});
