// Resume after a reload: the page is reloaded while parts are in flight; after
// the reload it lists the unfinished upload, the same file is picked again,
// and only the parts the store does not have are sent.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { MIB, startStack, waitUntil } from "./harness.mjs";
import {
  card,
  entry,
  listPending,
  openDemo,
  pickFiles,
  randomNamespace,
  range,
  trackStorePuts,
  waitDone,
  waitPartsDone,
  waitReady,
} from "./demo.mjs";

const PART = 5 * MIB;

let stack;
before(async () => {
  stack = await startStack({ label: "resume" });
});
after(async () => {
  await stack?.stop();
});

test("an upload cut by a reload resumes and sends only the missing parts", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("resume");
  const TOTAL = 9; // 8 parts of 5 MiB and one of 123 bytes
  const K = 3; // parts the store gets before the reload
  const file = await stack.makeFile("resume-me.bin", 8 * PART + 123);
  const page = stack.page;
  const params = { namespace, partSize: PART, concurrency: 2 };
  await openDemo(stack, page, params);

  // Let K parts through, hold every later one: the reload then comes while
  // parts are in flight, and the store has exactly K parts.
  stack.gate.holdAfter(K);
  await pickFiles(page, file.path);
  await waitUntil(() => stack.gate.completedCount() >= K && stack.gate.heldOpen() >= 1, {
    timeout: 60_000,
    what: `${K} parts stored and a later one in flight`,
  });
  await waitPartsDone(page, file.name, K, 30_000);
  const before = await entry(page, file.name);
  assert.equal(before.status, "uploading");
  assert.equal(before.partsDone, K);
  assert.equal(before.partsTotal, TOTAL);
  // The stored record keeps the progress (what the page lists after a reload).
  const record = await waitUntil(
    async () => (await listPending(page, namespace)).find((p) => p.fileName === file.name && p.partsDone >= K),
    { timeout: 10_000, what: `the stored record to count ${K} parts done` },
  );
  assert.equal(record.partsTotal, TOTAL);
  assert.equal(record.partSize, PART);

  // Reload mid-upload.
  const puts = trackStorePuts(page, stack.storeOrigin);
  await page.reload();
  await waitReady(page);
  puts.reset(); // count only what the page sends after the reload
  const gateMark = stack.gate.mark();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the held parts to be dropped by the reload" });
  stack.gate.release();

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
  const object = await stack.debug.object(record.key);
  assert.ok(object, `no object stored at ${record.key}`);
  assert.equal(object.size, file.size);
  assert.equal(object.sha256, file.sha256);
  assert.deepEqual((await stack.debug.uploads()).filter((u) => u.key === record.key), []);
  assert.deepEqual(await listPending(page, namespace), []);
  assert.deepEqual(stack.browserErrors, []);
});
