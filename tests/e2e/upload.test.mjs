// Whole uploads through the demo page: a large file, an empty file and a
// file one byte over a part boundary. Runs in every engine (E2E_BROWSER).

import assert from "node:assert/strict";

import { assertNoPageErrors, retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB } from "./harness.mjs";
import { listedPending, openDemo, partPutsSince, pickFiles, randomNamespace, range, shown, waitDone } from "./demo.mjs";
import { installHelpers, pending } from "./in-page.mjs";
import { assertNothingLeft, assertObject, useStack } from "./steps.mjs";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const stack = useStack("upload");
const test = retriedOnEngineFault(() => ({ stack }));

test("a 64 MiB file uploads byte-identical and leaves nothing behind", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("big");
  const file = await stack.makeFile("random-64MiB.bin", 64 * MIB);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace });
  const gateMark = stack.gate.mark();

  await pickFiles(tab, file.path);
  const started = Date.now();
  const e = await waitDone(tab, file.name, 180_000);
  const seconds = (Date.now() - started) / 1000;

  // What the page shows.
  const card = await shown(tab, file.name);
  assert.match(card.status, /^done: stored as /);
  assert.equal(card.objectKey, e.result.key);
  assert.equal(card.percent, "100%");
  assert.equal(card.bytes, "64.0 MiB / 64.0 MiB");
  assert.equal(card.parts, "parts 8/8"); // 8 MiB parts by default
  assert.equal(e.partsDone, 8);
  assert.equal(e.resumed, null, "a new upload must not report a resume");
  assert.deepEqual([...e.completedParts].sort((a, b) => a - b), range(1, 8), "onPartComplete reported every part once");
  assert.ok(typeof e.result.uploadId === "string" && e.result.uploadId.length > 0, "start() resolves with the uploadId");
  assert.ok(e.result.key.endsWith(`/${file.name}`), `the key ${e.result.key} ends with the file name`);

  // Every part went out once, and the store took each one.
  assert.deepEqual(partPutsSince(stack, gateMark), range(1, 8), "one PUT per part, none sent twice");
  const gated = stack.gate.since(gateMark);
  assert.deepEqual(gated.map((p) => p.state), Array(8).fill("done"));
  assert.deepEqual(
    gated.map((p) => p.size).sort((a, b) => a - b),
    Array(8).fill(8 * MIB),
    "every part is 8 MiB",
  );

  // The stored object is the file.
  const object = await assertObject(stack, e.result.key, file.sha256, file.size);
  assert.equal(object.metadata.source, "resupload-demo", "the metadata given to Upload reaches the object");

  // Nothing is left: no multipart upload on the store, no stored record.
  // (This upload's only: a first try WPE's fault ended leaves its own open.)
  assert.deepEqual((await stack.debug.uploads()).filter((u) => u.key === e.result.key), []);
  assert.deepEqual(await pending(tab, namespace), []);
  assert.equal((await listedPending(tab)).visible, false, "no unfinished upload is listed");
  process.stderr.write(`64 MiB in ${seconds.toFixed(1)} s (${(64 / seconds).toFixed(1)} MiB/s)\n`);
  await assertNoPageErrors(tab);
});

test("a 0-byte file becomes an empty object", { timeout: 60_000 }, async () => {
  const namespace = randomNamespace("empty");
  const file = await stack.makeFile("empty.txt", 0);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace });

  await pickFiles(tab, file.path);
  const e = await waitDone(tab, file.name, 30_000);
  const card = await shown(tab, file.name);
  assert.match(card.status, /^done: stored as /);
  assert.equal(card.percent, "100%");

  await assertObject(stack, e.result.key, EMPTY_SHA256, 0);
  await assertNothingLeft(stack, tab, namespace, e.result);
  await assertNoPageErrors(tab);
});

test("5 MiB + 1 byte goes up as two parts of 5 MiB and 1 byte", { timeout: 60_000 }, async () => {
  const namespace = randomNamespace("odd");
  const file = await stack.makeFile("odd size (5 MiB + 1).bin", 5 * MIB + 1);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace, partSize: 5 * MIB, concurrency: 2 });
  const gateMark = stack.gate.mark();

  await pickFiles(tab, file.path);
  const e = await waitDone(tab, file.name, 60_000);

  assert.equal((await shown(tab, file.name)).parts, "parts 2/2");
  assert.deepEqual(partPutsSince(stack, gateMark), [1, 2]);
  const sizes = Object.fromEntries(stack.gate.since(gateMark).map((p) => [p.partNumber, p.size]));
  assert.deepEqual(sizes, { 1: 5 * MIB, 2: 1 });

  await assertObject(stack, e.result.key, file.sha256, file.size);
  await assertNothingLeft(stack, tab, namespace, e.result);
  await assertNoPageErrors(tab);
});

test("a file dropped on the drop zone uploads", { timeout: 60_000 }, async () => {
  const namespace = randomNamespace("drop");
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace });

  // No driver can drag a file from the disk: the page gets the same drag
  // events a real drop fires, carrying a File made in the page.
  await installHelpers(tab);
  const dropped = await tab.evaluate(async () => {
    const { source: file, sha256 } = await window.e2e.source({ name: "dropped file.bin", size: 3 * 2 ** 20 + 17, type: "application/octet-stream" });
    const transfer = new DataTransfer();
    transfer.items.add(file);
    const zone = document.querySelector("#drop-zone");
    for (const type of ["dragenter", "dragover", "drop"]) {
      zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
    }
    return { size: file.size, sha256 };
  });
  const e = await waitDone(tab, "dropped file.bin", 30_000);
  assert.equal(await tab.evaluate(() => document.querySelectorAll("#drop-zone.dragging").length), 0, "the drop zone is no longer highlighted");
  await assertObject(stack, e.result.key, dropped.sha256, dropped.size);
  await assertNothingLeft(stack, tab, namespace, e.result);
  await assertNoPageErrors(tab);
});
