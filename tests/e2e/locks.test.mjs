// Two tabs, one file: a Web Lock named by the upload's key lets only one of
// them upload it. Two pages of one browser context (one IndexedDB, one lock
// manager); the store gate holds the first tab's upload midway.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { MIB, startStack, waitUntil } from "./harness.mjs";
import { openDemo, randomNamespace } from "./demo.mjs";

let stack;
before(async () => {
  stack = await startStack({ label: "locks" });
});
after(async () => {
  await stack?.stop();
});

const SIZE = 4 * 5 * MIB + 11; // 5 parts

/** Starts, in `page`, an upload of the deterministic test file kept as window.upload. */
async function startIn(page, namespace, extra = {}) {
  await page.evaluate(
    async ({ namespace, size, extra }) => {
      const { default: init, Upload } = await import("/pkg/resupload.js");
      await init();
      const bytes = new Uint8Array(size);
      let x = 88172645;
      for (let i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        bytes[i] = x & 255;
      }
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      window.sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      const file = new File([bytes], "two-tabs.bin", { lastModified: 1_700_000_000_000 });
      window.resumes = [];
      window.upload = new Upload(file, {
        endpoint: "/api/s3",
        namespace,
        partSize: 5 * 2 ** 20,
        concurrency: 1,
        onResume: (r) => window.resumes.push({ ...r }),
        ...extra,
      });
      window.outcome = null;
      window.upload.start().then(
        (result) => (window.outcome = { result: { ...result } }),
        (e) => (window.outcome = { code: e.code, message: e.message }),
      );
    },
    { namespace, size: SIZE, extra },
  );
}

const outcomeOf = (page) => page.evaluate(() => window.outcome);

async function waitOutcome(page) {
  await waitUntil(async () => (await outcomeOf(page)) !== null, { timeout: 60_000, what: "the upload to end" });
  return outcomeOf(page);
}

async function pages(namespace) {
  const a = stack.page;
  const b = await stack.context.newPage();
  await openDemo(stack, a, { namespace });
  await openDemo(stack, b, { namespace });
  return [a, b];
}

test("a second tab uploading the same file fails with UPLOAD_LOCKED; every part is sent once", { timeout: 120_000 }, async () => {
  const namespace = randomNamespace("lock-fail");
  const [a, b] = await pages(namespace);
  try {
    const mark = stack.gate.mark();
    stack.gate.holdAfter(2);
    await startIn(a, namespace);
    await waitUntil(() => stack.gate.heldOpen() === 1, { timeout: 30_000, what: "the first tab's third part to be held" });
    await startIn(b, namespace);
    const second = await waitOutcome(b);
    assert.equal(second.code, "UPLOAD_LOCKED", JSON.stringify(second));
    assert.match(second.message, /another tab/);
    stack.gate.release();
    const first = await waitOutcome(a);
    assert.ok(first.result, JSON.stringify(first));
    const stored = stack.gate.since(mark).filter((p) => p.state === "done").map((p) => p.partNumber);
    assert.deepEqual(stored.sort(), [1, 2, 3, 4, 5], "each part reached the store once");
    const object = await stack.debug.object(first.result.key);
    assert.equal(object.sha256, await a.evaluate(() => window.sha256));
  } finally {
    stack.gate.release();
    await b.close();
  }
});

test("with lock: \"wait\" the second tab starts when the first stops, and resumes its parts", { timeout: 120_000 }, async () => {
  const namespace = randomNamespace("lock-wait");
  const [a, b] = await pages(namespace);
  try {
    const mark = stack.gate.mark();
    stack.gate.holdAfter(2);
    await startIn(a, namespace);
    await waitUntil(() => stack.gate.heldOpen() === 1, { timeout: 30_000, what: "the first tab's third part to be held" });
    await startIn(b, namespace, { lock: "wait" });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await outcomeOf(b), null, "the second tab waits");
    stack.gate.release(); // the first tab's held part goes through...
    stack.gate.holdAfter(0); // ...and it is paused before sending more
    await waitUntil(() => stack.gate.heldOpen() === 1, { timeout: 30_000, what: "the first tab's fourth part to be held" });
    await a.evaluate(() => window.upload.pause());
    assert.equal((await waitOutcome(a)).code, "PAUSED");
    stack.gate.release();
    const second = await waitOutcome(b);
    assert.ok(second.result, JSON.stringify(second));
    const resumes = await b.evaluate(() => window.resumes);
    assert.equal(resumes.length, 1);
    assert.equal(resumes[0].skippedParts, 3, "the parts the first tab stored are not sent again");
    const stored = stack.gate.since(mark).filter((p) => p.state === "done").map((p) => p.partNumber);
    assert.deepEqual(stored.sort(), [1, 2, 3, 4, 5], "each part reached the store once");
    const object = await stack.debug.object(second.result.key);
    assert.equal(object.sha256, await b.evaluate(() => window.sha256));
  } finally {
    stack.gate.release();
    await b.close();
  }
});
