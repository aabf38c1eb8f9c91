// The library's JavaScript API called directly in the page: typed errors for
// bad input, start() twice, pause() then start() at once, abort() after
// completion.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { MIB, startStack } from "./harness.mjs";
import { openDemo, randomNamespace } from "./demo.mjs";

let stack;
before(async () => {
  stack = await startStack({ label: "api" });
});
after(async () => {
  await stack?.stop();
});

test("bad input gets a typed ResuploadError naming what to fix", { timeout: 120_000 }, async () => {
  const page = stack.page;
  await openDemo(stack, page);
  const results = await page.evaluate(async () => {
    const { default: init, Upload } = await import("/pkg/resupload.js");
    await init();
    const blob = new Blob([new Uint8Array(11)]);
    const attempt = (file, options) => {
      try {
        new Upload(file, options);
        return { ok: true };
      } catch (e) {
        return { isError: e instanceof Error, name: e.name, code: e.code, message: e.message };
      }
    };
    const endpoint = "/api/s3";
    return {
      notAFile: attempt("not a file", { endpoint }),
      noOptions: attempt(blob, undefined),
      noEndpoint: attempt(blob, {}),
      badEndpoint: attempt(blob, { endpoint: "not a url" }),
      tinyParts: attempt(blob, { endpoint, partSize: 1024 }),
      hugeParts: attempt(blob, { endpoint, partSize: 6 * 2 ** 30 }),
      fractionalParts: attempt(blob, { endpoint, partSize: 5 * 2 ** 20 + 0.5 }),
      zeroConcurrency: attempt(blob, { endpoint, concurrency: 0 }),
      absurdConcurrency: attempt(blob, { endpoint, concurrency: 100000 }),
      badDelays: attempt(blob, { endpoint, retryDelays: ["soon"] }),
      delaysNotArray: attempt(blob, { endpoint, retryDelays: 5 }),
      badMetadata: attempt(blob, { endpoint, metadata: { n: 1 } }),
      badCallback: attempt(blob, { endpoint, onProgress: "yes" }),
      tooLarge: attempt(blob, { endpoint, maxObjectSize: 10 }),
      fine: attempt(blob, { endpoint, maxObjectSize: 11 }),
    };
  });
  const expect = (name, code, ...words) => {
    const r = results[name];
    assert.equal(r.isError, true, `${name}: ${JSON.stringify(r)}`);
    assert.equal(r.name, "ResuploadError", name);
    assert.equal(r.code, code, `${name}: ${r.message}`);
    for (const word of words) assert.match(r.message, new RegExp(word), `${name}: ${r.message}`);
  };
  expect("notAFile", "NOT_A_FILE", "File or Blob");
  expect("noOptions", "INVALID_OPTION", "endpoint");
  expect("noEndpoint", "INVALID_OPTION", "endpoint", "required");
  expect("badEndpoint", "INVALID_OPTION", "endpoint", "not a URL");
  expect("tinyParts", "INVALID_OPTION", "partSize", "5 MiB");
  expect("hugeParts", "INVALID_OPTION", "partSize", "5 GiB");
  expect("fractionalParts", "INVALID_OPTION", "partSize", "whole");
  expect("zeroConcurrency", "INVALID_OPTION", "concurrency");
  expect("absurdConcurrency", "INVALID_OPTION", "concurrency");
  expect("badDelays", "INVALID_OPTION", "retryDelays");
  expect("delaysNotArray", "INVALID_OPTION", "retryDelays");
  expect("badMetadata", "INVALID_OPTION", "metadata");
  expect("badCallback", "INVALID_OPTION", "onProgress");
  expect("tooLarge", "FILE_TOO_LARGE", "11 bytes");
  assert.deepEqual(results.fine, { ok: true });
});

test("start() twice is refused, pause() then start() at once completes, abort() after completion is refused", { timeout: 120_000 }, async () => {
  const page = stack.page;
  await openDemo(stack, page);
  const namespace = randomNamespace("api");
  const size = 12 * MIB + 5;
  const out = await page.evaluate(
    async ({ namespace, size }) => {
      const { default: init, Upload } = await import("/pkg/resupload.js");
      await init();
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
      const file = new File([bytes], "api-test.bin", { lastModified: 1_700_000_000_000 });
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      const codeOf = (p) => p.then(() => "resolved", (e) => e.code);

      const upload = new Upload(file, { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20, concurrency: 1 });
      const first = codeOf(upload.start());
      const second = await codeOf(upload.start());
      upload.pause();
      const resumed = upload.start(); // at once: waits for the paused run to wind down
      const firstCode = await first;
      const result = await resumed;
      const afterDone = await codeOf(upload.abort());
      const startAgain = await codeOf(upload.start());
      const pending = await Upload.listPending({ namespace });
      return { second, firstCode, result: { ...result }, afterDone, startAgain, pending: pending.length, sha256 };
    },
    { namespace, size },
  );
  assert.equal(out.second, "ALREADY_RUNNING");
  assert.equal(out.firstCode, "PAUSED");
  assert.equal(out.afterDone, "ALREADY_COMPLETED");
  assert.equal(out.startAgain, "ALREADY_COMPLETED");
  assert.equal(out.pending, 0, "no record is left after completion");
  assert.match(out.result.key, /api-test\.bin$/);
  const object = await stack.debug.object(out.result.key);
  assert.equal(object.size, size);
  assert.equal(object.sha256, out.sha256, "the stored object is the file, byte for byte");
});

// Uploads `size` random bytes with IndexedDB broken by `breakScript` (run
// before the page's scripts); answers what the page saw.
async function uploadWithBrokenStorage(breakScript, namespace, size) {
  const page = await stack.context.newPage();
  try {
    await page.addInitScript(breakScript);
    await page.goto(stack.demoUrl({ namespace }));
    return await page.evaluate(
      async ({ namespace, size }) => {
        const { default: init, Upload } = await import("/pkg/resupload.js");
        await init();
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
        const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
        const file = new File([bytes], "no-storage.bin", { lastModified: 1_700_000_000_000 });
        const warnings = [];
        const options = { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20, concurrency: 1, onWarning: (w) => warnings.push({ ...w }) };
        // Pause and resume within the page: the record lives in memory.
        const resumed = [];
        const upload = new Upload(file, { ...options, onResume: (r) => resumed.push({ ...r }) });
        const first = upload.start().catch((e) => e.code);
        let parts = 0;
        await new Promise((resolve) => {
          const tick = setInterval(async () => {
            const previous = await Upload.findPrevious(file, { endpoint: "/api/s3", namespace });
            parts = previous?.partsDone ?? 0;
            if (parts >= 1) {
              clearInterval(tick);
              resolve();
            }
          }, 5);
        });
        upload.pause();
        const firstCode = await first;
        const result = await upload.start();
        return { firstCode, result: { ...result }, warnings, resumed, sha256 };
      },
      { namespace, size },
    );
  } finally {
    await page.close();
  }
}

test("without IndexedDB the upload completes from memory, resumes within the page, and warns once", { timeout: 120_000 }, async () => {
  const size = 16 * MIB + 9;
  const out = await uploadWithBrokenStorage(() => {
    IDBFactory.prototype.open = function () {
      throw new DOMException("The user denied permission to access the database.", "SecurityError");
    };
  }, randomNamespace("noidb"), size);
  assert.equal(out.firstCode, "PAUSED");
  assert.equal(out.resumed.length, 1, "start() after pause() resumed the upload from the record in memory");
  assert.ok(out.resumed[0].skippedParts >= 1, JSON.stringify(out.resumed));
  assert.equal(out.warnings.length, 1, JSON.stringify(out.warnings));
  assert.equal(out.warnings[0].code, "STORAGE_UNAVAILABLE");
  const object = await stack.debug.object(out.result.key);
  assert.equal(object.sha256, out.sha256, "the stored object is the file, byte for byte");
});

test("a full IndexedDB (QuotaExceededError) moves the upload to memory with one STORAGE_FULL warning", { timeout: 120_000 }, async () => {
  const size = 16 * MIB + 9;
  const out = await uploadWithBrokenStorage(() => {
    const put = IDBObjectStore.prototype.put;
    let writes = 0;
    IDBObjectStore.prototype.put = function (...args) {
      writes += 1;
      if (writes > 2) throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
      return put.apply(this, args);
    };
  }, randomNamespace("fullidb"), size);
  assert.equal(out.firstCode, "PAUSED");
  assert.deepEqual(
    out.warnings.map((w) => w.code),
    ["STORAGE_FULL"],
  );
  const object = await stack.debug.object(out.result.key);
  assert.equal(object.sha256, out.sha256, "the stored object is the file, byte for byte");
});

// In the page: a File of deterministic bytes (the same after a reload), its
// SHA-256, and a helper that waits until the stored record has a part done.
const PAGE_HELPERS = `
  window.makeFile = async (name, size) => {
    const bytes = new Uint8Array(size);
    let x = 2463534242;
    for (let i = 0; i < size; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; bytes[i] = x & 255; }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    return { file: new File([bytes], name, { lastModified: 1_700_000_000_000 }), sha256 };
  };
  window.waitForPart = async (Upload, file, namespace) => {
    for (;;) {
      const previous = await Upload.findPrevious(file, { endpoint: "/api/s3", namespace });
      if ((previous?.partsDone ?? 0) >= 1) return previous;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
`;

// Opens the demo, starts an upload of the page-made file `name` (5 MiB
// parts, one at a time), reloads the page once a part is stored, and
// answers the stored upload's { uploadId, key }.
async function storeOnePartThenReload(namespace, name, size) {
  const page = stack.page;
  await openDemo(stack, page);
  const before = await page.evaluate(
    async ({ namespace, name, size, helpers }) => {
      eval(helpers);
      const { default: init, Upload } = await import("/pkg/resupload.js");
      await init();
      const { file } = await window.makeFile(name, size);
      new Upload(file, { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20, concurrency: 1 }).start().catch(() => {});
      const previous = await window.waitForPart(Upload, file, namespace);
      return { uploadId: previous.uploadId, key: previous.key };
    },
    { namespace, name, size, helpers: PAGE_HELPERS },
  );
  await page.reload();
  return before;
}

test("an upload aborted on the server between two page loads restarts afresh and says so", { timeout: 120_000 }, async () => {
  const page = stack.page;
  const namespace = randomNamespace("expired");
  const size = 16 * MIB + 3;
  const before = await storeOnePartThenReload(namespace, "expire-me.bin", size);
  const aborted = await fetch(new URL("/api/debug/abort-all", stack.baseUrl), { method: "POST" });
  assert.equal(aborted.status, 200);
  const out = await page.evaluate(
    async ({ namespace, size, helpers }) => {
      eval(helpers);
      const { default: init, Upload } = await import("/pkg/resupload.js");
      await init();
      const { file, sha256 } = await window.makeFile("expire-me.bin", size);
      const stored = await Upload.findPrevious(file, { endpoint: "/api/s3", namespace });
      const restarts = [];
      const resumes = [];
      const upload = new Upload(file, {
        endpoint: "/api/s3",
        namespace,
        partSize: 5 * 2 ** 20,
        onRestart: (r) => restarts.push({ ...r }),
        onResume: (r) => resumes.push({ ...r }),
      });
      const result = await upload.start();
      return { stored: stored?.uploadId, restarts, resumes, result: { ...result }, sha256 };
    },
    { namespace, size, helpers: PAGE_HELPERS },
  );
  assert.equal(out.stored, before.uploadId, "the record survived the reload");
  assert.deepEqual(out.restarts, [{ reason: "expired" }]);
  assert.deepEqual(out.resumes, []);
  assert.notEqual(out.result.uploadId, before.uploadId, "a new multipart upload");
  const object = await stack.debug.object(out.result.key);
  assert.equal(object.sha256, out.sha256, "the stored object is the file, byte for byte");
});

test("onExpiringSoon on a resume inside the warning window; clearPending forgets and aborts", { timeout: 120_000 }, async () => {
  const page = stack.page;
  const namespace = randomNamespace("soon");
  await openDemo(stack, page);
  const out = await page.evaluate(
    async ({ namespace, helpers }) => {
      eval(helpers);
      const { default: init, Upload } = await import("/pkg/resupload.js");
      await init();
      const base = { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20, concurrency: 1 };
      const { file, sha256 } = await window.makeFile("soon.bin", 11 * 2 ** 20);
      const first = new Upload(file, base);
      const firstRun = first.start().catch((e) => e.code);
      const previous = await window.waitForPart(Upload, file, namespace);
      first.pause();
      await firstRun;
      const soon = [];
      // A one-hour lifecycle rule with a two-hour warning: any resume warns.
      const second = new Upload(file, { ...base, expiresAfter: 3_600_000, expiryWarning: 7_200_000, onExpiringSoon: (s) => soon.push({ ...s }) });
      const result = await second.start();

      const other = await window.makeFile("forget-me.bin", 11 * 2 ** 20);
      const third = new Upload(other.file, base);
      const thirdRun = third.start().catch((e) => e.code);
      const pendingThird = await window.waitForPart(Upload, other.file, namespace);
      third.pause();
      await thirdRun;
      const cleared = await Upload.clearPending({ namespace });
      const left = await Upload.listPending({ namespace });
      return { soon, createdAt: previous.createdAt, uploadId: previous.uploadId, result: { ...result }, sha256, cleared, left: left.length, thirdKey: pendingThird.key };
    },
    { namespace, helpers: PAGE_HELPERS },
  );
  assert.deepEqual(out.soon, [{ uploadId: out.uploadId, expiresAt: out.createdAt + 3_600_000 }]);
  assert.equal(out.result.uploadId, out.uploadId, "it resumed");
  assert.equal((await stack.debug.object(out.result.key)).sha256, out.sha256);
  assert.equal(out.cleared, 1);
  assert.equal(out.left, 0);
  const uploads = await stack.getJson("/api/debug/uploads");
  assert.ok(!uploads.body.uploads.some((u) => u.key === out.thirdKey), "clearPending aborted it on the server");
});

// Starts an upload of `first` and stops it (reload) once a part is stored;
// then uploads `second` (built by `makeSecond` in the page) and reports.
async function changeBetweenLoads(namespace, makeSecond) {
  const page = stack.page;
  const size = 16 * MIB + 3;
  const before = await storeOnePartThenReload(namespace, "changing.bin", size);
  const out = await page.evaluate(
    async ({ namespace, size, helpers, makeSecond }) => {
      eval(helpers);
      const { default: init, Upload } = await import("/pkg/resupload.js");
      await init();
      const { file: original } = await window.makeFile("changing.bin", size);
      const file = await eval(makeSecond)(original);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
      const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      const restarts = [];
      const resumes = [];
      const upload = new Upload(file, {
        endpoint: "/api/s3",
        namespace,
        partSize: 5 * 2 ** 20,
        onRestart: (r) => restarts.push({ ...r }),
        onResume: (r) => resumes.push({ ...r }),
      });
      const result = await upload.start();
      const left = await Upload.listPending({ namespace });
      return { restarts, resumes, result: { ...result }, sha256, left: left.length };
    },
    { namespace, size, helpers: PAGE_HELPERS, makeSecond: makeSecond.toString() },
  );
  assert.deepEqual(out.restarts, [{ reason: "file-changed" }]);
  assert.deepEqual(out.resumes, [], "nothing of the old upload is reused");
  assert.notEqual(out.result.uploadId, before.uploadId);
  assert.equal(out.left, 0, "the old record is gone");
  const uploads = await stack.getJson("/api/debug/uploads");
  assert.ok(!uploads.body.uploads.some((u) => u.uploadId === before.uploadId), "the old upload was aborted on the server");
  const object = await stack.debug.object(out.result.key);
  assert.equal(object.sha256, out.sha256, "the stored object is the new file, byte for byte");
}

test("a file with the same name and size but a new date restarts (file-changed)", { timeout: 120_000 }, async () => {
  await changeBetweenLoads(randomNamespace("newdate"), async (original) =>
    new File([await original.arrayBuffer()], original.name, { lastModified: original.lastModified + 60_000 }),
  );
});

test("a file with the same name, size and date but new content restarts (file-changed)", { timeout: 120_000 }, async () => {
  await changeBetweenLoads(randomNamespace("newbytes"), async (original) => {
    const bytes = new Uint8Array(await original.arrayBuffer());
    bytes[bytes.length >> 1] ^= 0xff; // one byte in the middle sample
    return new File([bytes], original.name, { lastModified: original.lastModified });
  });
});

test("a backend answering non-JSON, a 500, or JSON of the wrong shape gets a typed error", { timeout: 120_000 }, async () => {
  const page = await stack.context.newPage();
  try {
    // The faulty backend: the create route answers what each case says.
    let answer = null;
    await page.route("**/api/s3/multipart", (route) => route.fulfill(answer));
    await page.goto(stack.demoUrl());
    const tryWith = async (response) => {
      answer = response;
      return page.evaluate(async () => {
        const { default: init, Upload } = await import("/pkg/resupload.js");
        await init();
        const file = new File([new Uint8Array(1000)], "bad-backend.bin");
        try {
          await new Upload(file, { endpoint: "/api/s3", namespace: "bad-backend", retryDelays: [0] }).start();
          return { ok: true };
        } catch (e) {
          return { code: e.code, status: e.status, message: e.message };
        }
      });
    };
    const html = await tryWith({ status: 200, contentType: "text/html", body: "<html>login page</html>" });
    assert.equal(html.code, "BAD_RESPONSE", JSON.stringify(html));
    assert.match(html.message, /not JSON/);
    const failing = await tryWith({ status: 500, contentType: "text/html", body: "<h1>Internal Server Error</h1>" });
    assert.equal(failing.code, "HTTP_STATUS", JSON.stringify(failing));
    assert.equal(failing.status, 500);
    const shape = await tryWith({ status: 200, contentType: "application/json", body: JSON.stringify({ upload: "x" }) });
    assert.equal(shape.code, "BAD_RESPONSE", JSON.stringify(shape));
    assert.match(shape.message, /Companion/);
  } finally {
    await page.close();
  }
});

test("listPending removes records past expiry", { timeout: 120_000 }, async () => {
  const page = stack.page;
  const namespace = randomNamespace("stale");
  await openDemo(stack, page);
  const out = await page.evaluate(
    async ({ namespace, helpers }) => {
      eval(helpers);
      const { default: init, Upload } = await import("/pkg/resupload.js");
      await init();
      const { file } = await window.makeFile("stale.bin", 11 * 2 ** 20);
      const upload = new Upload(file, { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20, concurrency: 1 });
      const run = upload.start().catch((e) => e.code);
      await window.waitForPart(Upload, file, namespace);
      upload.pause();
      await run;
      const fresh = (await Upload.listPending({ namespace })).length;
      await new Promise((r) => setTimeout(r, 20));
      const afterExpiry = (await Upload.listPending({ namespace, expiresAfter: 10 })).length;
      const record = await Upload.findPrevious(file, { endpoint: "/api/s3", namespace });
      return { fresh, afterExpiry, record };
    },
    { namespace, helpers: PAGE_HELPERS },
  );
  assert.equal(out.fresh, 1);
  assert.equal(out.afterExpiry, 0);
  assert.equal(out.record, null, "the expired record was deleted, not only hidden");
});
