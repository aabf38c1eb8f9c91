// A plain Uppy Companion (npm @uppy/companion, standalone, tests/e2e/
// companion.mjs) in front of the stack's Garage, driven from a page of each engine (E2E_BROWSER) the
// way a browser client drives it: its `/s3/params` answer POSTed as a form
// (the fields, then the file last), and a multipart upload through its S3
// routes. The dev server only serves the page (its origin is the one
// Companion and the bucket allow) and reads the stored objects back.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startCompanion } from "./companion.mjs";
import { MIB, startStack } from "./harness.mjs";

let stack;
let companion;

before(async () => {
  stack = await startStack({ label: "companion" });
  const origin = new URL(stack.baseUrl).origin;
  companion = await startCompanion({ storeEnv: stack.storeEnv, origins: [origin], dir: stack.tmpDir, notePid: stack.notePid });
  // A page of the dev server's origin (one Playwright made up would not count as loopback).
  await stack.tab.goto(new URL("/style.css", stack.baseUrl).href);
});
after(async () => {
  await companion?.stop();
  await stack?.stop();
});

/** In the page: `size` random bytes as a Blob, with their SHA-256 (hex). Kept as `window.blobs[name]`. */
async function makeBlob(name, size, type) {
  return stack.tab.evaluate(
    async ({ name, size, type }) => {
      const bytes = new Uint8Array(size);
      for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      window.blobs ??= {};
      window.blobs[name] = new Blob([bytes], { type });
      return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    },
    { name, size, type },
  );
}

test("Companion's /s3/params from a browser page, then the POST form to Garage: stored byte-identical", { timeout: 120_000 }, async () => {
  const size = 300_000;
  const sha256 = await makeBlob("small", size, "image/png");
  const result = await stack.tab.evaluate(
    async ({ endpoint, query }) => {
      const asked = await fetch(`${endpoint}/params?${new URLSearchParams(query)}`);
      const params = await asked.json();
      if (!asked.ok) return { status: asked.status, params };
      const form = new FormData();
      for (const [name, value] of Object.entries(params.fields)) form.append(name, value);
      form.append("file", window.blobs.small);
      const posted = await fetch(params.url, { method: params.method, body: form });
      return { params, status: posted.status, text: await posted.text() };
    },
    { endpoint: companion.s3Endpoint, query: { filename: "Été photo.png", type: "image/png", "metadata[name]": "photo.png", "metadata[caption]": "a caption" } },
  );
  const { params } = result;
  assert.equal(params.method, "POST", JSON.stringify(result));
  assert.equal(params.expires, 800, "Companion's default expiry");
  assert.equal(new URL(params.url).pathname.replace(/\/$/, ""), `/${stack.storeEnv.S3_BUCKET}`, "path-style bucket URL");
  assert.match(params.fields.key, /^[0-9a-f-]{36}-Été photo\.png$/, "Companion's key: <uuid>-<raw file name>");
  assert.equal(params.fields["content-type"], "image/png");
  assert.equal(result.status, 201, result.text);
  const stored = await stack.debug.object(params.fields.key);
  assert.equal(stored.size, size);
  assert.equal(stored.sha256, sha256, "byte-identical");
  assert.equal(stored.contentType, "image/png");
  assert.deepEqual(stored.metadata, { name: "photo.png", caption: "a caption" });
});

test("a multipart upload through Companion's routes from a browser page: create, sign, PUT, list, complete", { timeout: 180_000 }, async () => {
  const size = 5 * MIB + 123_457;
  const sha256 = await makeBlob("big", size, "application/octet-stream");
  const result = await stack.tab.evaluate(
    async ({ endpoint, partSize }) => {
      const json = async (response) => ({ status: response.status, body: response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text() });
      const send = (method, route, body) =>
        fetch(`${endpoint}${route}`, { method, headers: body ? { "content-type": "application/json" } : {}, body: body && JSON.stringify(body) }).then(json);
      const blob = window.blobs.big;
      const created = await send("POST", "/multipart", { filename: "big file #1.bin", type: "application/octet-stream", metadata: { name: "big" } });
      const { key, uploadId } = created.body;
      const q = `key=${encodeURIComponent(key)}`;
      const one = await send("GET", `/multipart/${encodeURIComponent(uploadId)}/1?${q}`);
      const batch = await send("GET", `/multipart/${encodeURIComponent(uploadId)}/batch?${q}&partNumbers=1,2`);
      const urls = [one.body.url, batch.body.presignedUrls["2"]];
      const etags = [];
      for (const [i, url] of urls.entries()) {
        const put = await fetch(url, { method: "PUT", body: blob.slice(i * partSize, (i + 1) * partSize) });
        if (!put.ok) return { failedPut: i + 1, status: put.status, text: await put.text() };
        etags.push(put.headers.get("etag"));
      }
      const listed = await send("GET", `/multipart/${encodeURIComponent(uploadId)}?${q}`);
      const parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
      const completed = await send("POST", `/multipart/${encodeURIComponent(uploadId)}/complete?${q}`, { parts });
      const gone = await send("GET", `/multipart/${encodeURIComponent(uploadId)}?${q}`);
      return { created, one, batch, etags, listed, completed, gone };
    },
    { endpoint: companion.s3Endpoint, partSize: 5 * MIB },
  );
  assert.ok(!result.failedPut, JSON.stringify(result));
  assert.equal(result.created.status, 200, JSON.stringify(result.created));
  const { key } = result.created.body;
  assert.match(key, /^[0-9a-f-]{36}-big file #1\.bin$/);
  assert.equal(result.one.body.expires, 800);
  assert.equal(new URL(result.one.body.url).searchParams.get("X-Amz-SignedHeaders"), "host", "Companion signs only the host");
  assert.ok(!/checksum/i.test(result.one.body.url), "no checksum in the part URL (AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED)");
  assert.deepEqual(Object.keys(result.batch.body.presignedUrls).sort(), ["1", "2"]);
  result.etags.forEach((etag) => assert.match(etag, /^"[0-9a-f]{32}"$/, "quoted ETags, readable through Garage's CORS rule"));
  assert.deepEqual(result.listed.body.map((p) => [p.PartNumber, p.Size, p.ETag]), [[1, 5 * MIB, result.etags[0]], [2, size - 5 * MIB, result.etags[1]]]);
  assert.equal(result.completed.status, 200, JSON.stringify(result.completed));
  assert.ok(result.completed.body.location, JSON.stringify(result.completed));
  // A gone upload: a 500 whose JSON names no S3 code (standalone, NODE_ENV
  // production); a client can only take a failed list as "start afresh".
  assert.equal(result.gone.status, 500, JSON.stringify(result.gone));
  assert.deepEqual(result.gone.body, { message: "Something went wrong" });
  const stored = await stack.debug.object(key);
  assert.equal(stored.size, size);
  assert.equal(stored.sha256, sha256, "byte-identical");
  assert.deepEqual(stored.metadata, { name: "big" });
});
