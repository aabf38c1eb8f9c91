// Resume after a reload: the page is reloaded while parts are in flight; after
// the reload it lists the unfinished upload, the same file is picked again,
// and only the parts the store does not have are sent. Runs in every engine
// (E2E_BROWSER).

import assert from "node:assert/strict";

import { assertNoPageErrors, retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, waitUntil } from "./harness.mjs";
import { cardCount, entry, listedPending, openDemo, partPutsSince, pickFiles, randomNamespace, range, shown, waitDone } from "./demo.mjs";
import { assertNothingLeft, assertObject, pickAndHold, reloadMidUpload, useStack } from "./steps.mjs";

const PART = 5 * MIB;

const stack = useStack("resume");
const test = retriedOnEngineFault(() => ({ stack }));

test("an upload cut by a reload resumes and sends only the missing parts", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("resume");
  const TOTAL = 9; // 8 parts of 5 MiB and one of 123 bytes
  const K = 3; // parts the store gets before the reload
  const file = await stack.makeFile("resume-me.bin", 8 * PART + 123);
  const tab = stack.tab;
  const params = { namespace, partSize: PART, concurrency: 2 };
  await openDemo(stack, tab, params);

  // Let K parts through, hold every later one: the reload then comes while
  // parts are in flight, and the store has exactly K parts. The stored
  // record keeps the progress (what the page lists after a reload).
  const record = await pickAndHold(stack, tab, file, namespace, K);
  const before = await entry(tab, file.name);
  assert.equal(before.status, "uploading");
  assert.equal(before.partsDone, K);
  assert.equal(before.partsTotal, TOTAL);
  assert.equal(record.partsTotal, TOTAL);
  assert.equal(record.partSize, PART);

  // Reload mid-upload; count only what the page sends after the reload.
  await assertNoPageErrors(tab, "no page error before the reload");
  await reloadMidUpload(stack, tab);
  const gateMark = stack.gate.mark();

  // The store has exactly the K parts that got through.
  const onStore = (await stack.debug.uploads()).filter((u) => u.key === record.key);
  assert.equal(onStore.length, 1, `one multipart upload in progress for ${record.key}`);
  assert.equal(onStore[0].uploadId, record.uploadId);
  const storedParts = (await stack.debug.parts(record.key, record.uploadId)).map((p) => p.PartNumber).sort((a, b) => a - b);
  assert.equal(storedParts.length, K);
  const missing = range(1, TOTAL).filter((n) => !storedParts.includes(n));

  // The page lists the unfinished upload and asks for the file again.
  const listed = await waitUntil(
    async () => {
      const list = await listedPending(tab);
      return list.visible && list.items.find((i) => i.fileName === file.name);
    },
    { timeout: 10_000, what: "the unfinished upload to be listed" },
  );
  assert.match(listed.text, /resume-me\.bin/);
  assert.match(listed.text, /40\.0 MiB/); // the file's size
  assert.match(listed.text, new RegExp(`${K} of ${TOTAL} parts`));
  assert.equal(await cardCount(tab), 0, "no upload card before the file is picked");

  // Picking the same file resumes it.
  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name, 120_000);

  assert.ok(done.resumed, "onResume was called");
  assert.ok(done.resumed.skippedParts >= K, `skippedParts ${done.resumed.skippedParts} >= ${K}`);
  assert.equal(done.resumed.skippedParts, storedParts.length, "every part the store had is skipped");
  assert.equal(done.resumed.skippedBytes, K * PART);
  assert.equal(done.resumed.uploadId, record.uploadId, "the same multipart upload continues");
  assert.equal(done.result.uploadId, record.uploadId);
  assert.equal(done.result.key, record.key);
  const card = await shown(tab, file.name);
  assert.match(card.resumed, new RegExp(`^resumed: ${K} parts skipped`));
  assert.equal(card.parts, `parts ${TOTAL}/${TOTAL}`);
  assert.equal((await listedPending(tab)).visible, false, "the unfinished upload is no longer listed");

  // Only the missing parts went out after the reload, each once.
  assert.deepEqual(partPutsSince(stack, gateMark), missing, "only the missing parts are sent, each once");
  assert.deepEqual(
    stack.gate.since(gateMark).map((p) => p.state),
    Array(missing.length).fill("done"),
  );

  // The object is the file; nothing is left behind.
  await assertObject(stack, record.key, file.sha256, file.size);
  await assertNothingLeft(stack, tab, namespace, record);
  await assertNoPageErrors(tab);
});
