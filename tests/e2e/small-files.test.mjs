// Small files in one request each (server/PROTOCOL.md, "Small files"):
// Companion's `GET /api/s3/params` answered with a presigned PUT, the batch
// route `POST /api/s3/params/batch`, and folder-relative paths in keys
// (on the small-file routes and on multipart create). Plain HTTP from Node
// against a dev server and a real Garage, plus one PUT from a page in each engine (E2E_BROWSER); the
// ownership tests run a second dev server with JWT auth.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import { call, epoch, hs256Jwt, routesOf } from "./backend-client.mjs";
import { startStack } from "./harness.mjs";

let stack;
let jwtBase;
const SECRET = randomBytes(32).toString("hex");

before(async () => {
  stack = await startStack({ label: "small-files" });
  jwtBase = (await stack.startServer({ name: "jwt", env: { AUTH_JWT_HS256_SECRET: SECRET } })).baseUrl;
});
after(async () => {
  await stack?.stop();
});

const sha256 = (bytes) => createHash("sha256").update(bytes);
const hex = (bytes) => sha256(bytes).digest("hex");
const b64 = (bytes) => sha256(bytes).digest("base64");
const bearer = (sub) => ({ authorization: `Bearer ${hs256Jwt({ sub, exp: epoch(300) }, SECRET)}` });
const KEY = /^uploads\/([^/]+)\/[0-9a-f]{32}\/(.+)$/;

/** `GET /api/s3/params` with these query parameters (`metadata` as Companion sends it). */
function params(base, { metadata = {}, ...fields }, headers = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) query.set(name, String(value));
  for (const [name, value] of Object.entries(metadata)) query.set(`metadata[${name}]`, value);
  return call(base, "GET", `/api/s3/params?${query}`, { headers });
}

const batch = (base, body, headers = {}) => call(base, "POST", "/api/s3/params/batch", { body, headers });

/** PUTs `bytes` as a signed upload says: { status, text }. */
async function putSigned(upload, bytes, headers = upload.headers) {
  const response = await fetch(upload.url, { method: upload.method, body: bytes, headers });
  return { status: response.status, text: await response.text() };
}

function expectError(r, status, code, pattern) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
  if (pattern) assert.match(r.json.error.message, pattern);
}

/** Every request the dev servers send to the store (through the gate) while watched. */
function watchStore() {
  const seen = [];
  const listener = (req) => seen.push(`${req.method} ${req.url}`);
  stack.gate.server.on("request", listener);
  return { seen, stop: () => stack.gate.server.off("request", listener) };
}

test("params: a presigned PUT with every header it signs; the object is stored with its type and metadata", { timeout: 60_000 }, async () => {
  const bytes = randomBytes(70_000);
  const r = await params(stack.baseUrl, {
    filename: "Été a+b #1.txt",
    type: "text/plain; charset=utf-8",
    metadata: { name: "Été a+b #1.txt", note: "two  words" },
    size: bytes.length,
    checksumSha256: b64(bytes),
    namespace: "alice",
  });
  assert.equal(r.status, 200, r.text);
  const up = r.json;
  assert.deepEqual(Object.keys(up).sort(), ["expires", "fields", "headers", "key", "method", "url"]);
  assert.equal(up.method, "PUT");
  assert.deepEqual(up.fields, {});
  assert.equal(up.expires, 3600);
  assert.deepEqual(up.headers, {
    "content-type": "text/plain; charset=utf-8",
    "x-amz-meta-name": `=?UTF-8?B?${Buffer.from("Été a+b #1.txt").toString("base64")}?=`,
    "x-amz-meta-note": "two words",
    "x-amz-checksum-sha256": b64(bytes),
  });
  assert.deepEqual(KEY.exec(up.key)?.slice(1), ["alice", "Été a_b _1.txt"]);
  const url = new URL(up.url);
  assert.equal(url.searchParams.get("X-Amz-SignedHeaders"), "content-type;host;x-amz-checksum-sha256;x-amz-meta-name;x-amz-meta-note");
  assert.equal(url.searchParams.get("X-Amz-Expires"), "3600");

  // Every listed header is required: one left out and the store refuses
  // (Garage answers 400 before reading the body and closes the connection,
  // so through the gate this may be its 502 instead).
  const { "x-amz-meta-note": _left, ...fewer } = up.headers;
  const refused = await putSigned(up, bytes, fewer);
  assert.ok([400, 403, 502].includes(refused.status), `${refused.status} ${refused.text}`);
  assert.equal(await stack.debug.object(up.key), null, "nothing stored");

  const put = await putSigned(up, bytes);
  assert.equal(put.status, 200, put.text);
  const stored = await stack.debug.object(up.key);
  assert.equal(stored.size, bytes.length);
  assert.equal(stored.sha256, hex(bytes), "byte-identical");
  assert.equal(stored.contentType, "text/plain; charset=utf-8");
  assert.deepEqual(stored.metadata, { name: up.headers["x-amz-meta-name"], note: "two words" });
});

test("params: the store refuses a body that is not the signed checksum's", { timeout: 60_000 }, async () => {
  const bytes = randomBytes(4096);
  const other = Buffer.from(bytes);
  other[100] ^= 0xff;
  const up = (await params(stack.baseUrl, { filename: "sum.bin", type: "application/octet-stream", checksumSha256: b64(bytes) })).json;
  const refused = await putSigned(up, other);
  assert.equal(refused.status, 400, refused.text);
  assert.match(refused.text, /InvalidDigest/);
  assert.equal(await stack.debug.object(up.key), null, "nothing stored");
  const forged = await putSigned(up, other, { ...up.headers, "x-amz-checksum-sha256": b64(other) });
  assert.equal(forged.status, 403, `another checksum than the signed one: ${forged.text}`);
  assert.equal((await putSigned(up, bytes)).status, 200);
  assert.equal((await stack.debug.object(up.key)).sha256, hex(bytes));
});

test("params: Companion's own query (filename, type, metadata) works unchanged; bad values are 400", { timeout: 60_000 }, async () => {
  const plain = await params(stack.baseUrl, { filename: "plain.bin", type: "", metadata: {} });
  assert.equal(plain.status, 200, plain.text);
  assert.deepEqual(KEY.exec(plain.json.key)?.slice(1), ["default", "plain.bin"]);
  assert.deepEqual(plain.json.headers, {}, "no type, no metadata, no checksum: nothing to send");
  assert.equal(new URL(plain.json.url).searchParams.get("X-Amz-SignedHeaders"), "host");
  assert.equal((await putSigned(plain.json, Buffer.from("abc"))).status, 200);
  assert.equal((await stack.debug.object(plain.json.key)).size, 3);
  const empty = (await params(stack.baseUrl, { filename: "empty.txt", type: "text/plain" })).json;
  assert.equal((await putSigned(empty, Buffer.alloc(0))).status, 200, "a 0-byte file in one PUT");
  assert.equal((await stack.debug.object(empty.key)).size, 0);

  expectError(await params(stack.baseUrl, { type: "text/plain" }), 400, "InvalidArgument", /filename/);
  expectError(await params(stack.baseUrl, { filename: "" }), 400, "InvalidArgument", /filename/);
  expectError(await params(stack.baseUrl, { filename: "a", checksumSha256: "abc" }), 400, "InvalidChecksum");
  expectError(await params(stack.baseUrl, { filename: "a", size: 5 * 2 ** 30 + 1 }), 400, "EntityTooLarge", /multipart/);
  expectError(await params(stack.baseUrl, { filename: "a", size: "12.5" }), 400, "InvalidArgument", /size/);
  assert.equal((await params(stack.baseUrl, { filename: "a", size: 5 * 2 ** 30 })).status, 200);
});

test("relative paths: their directories go into the key, sanitized, and never climb out", { timeout: 60_000 }, async () => {
  const cases = [
    ["photos/2024/a.jpg", "photos/2024/a.jpg"],
    ["/photos//2024/./a.jpg", "photos/2024/a.jpg"],
    ["../../other/../x/a.jpg", "other/x/a.jpg"],
    ["100% sure/#tag/a.jpg", "100_ sure/_tag/a.jpg"],
    ["a.jpg", "a.jpg"],
  ];
  for (const [relativePath, tail] of cases) {
    const r = await params(stack.baseUrl, { filename: "a.jpg", relativePath, namespace: "ns" });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(KEY.exec(r.json.key)?.slice(1), ["ns", tail], relativePath);
  }
  const stored = (await params(stack.baseUrl, { filename: "b.txt", relativePath: "docs/b.txt", type: "text/plain" })).json;
  assert.equal((await putSigned(stored, Buffer.from("in a folder"))).status, 200);
  assert.equal((await stack.debug.object(stored.key)).size, 11);

  const deep = `${"d/".repeat(33)}a.jpg`;
  expectError(await params(stack.baseUrl, { filename: "a.jpg", relativePath: deep }), 400, "InvalidRelativePath", /33 directories/);
  assert.equal((await params(stack.baseUrl, { filename: "a.jpg", relativePath: `${"d/".repeat(32)}a.jpg` })).status, 200);
  const long = `${`${"x".repeat(200)}/`.repeat(5)}a.jpg`;
  expectError(await params(stack.baseUrl, { filename: "a.jpg", relativePath: long }), 400, "InvalidRelativePath", /1024/);
  const create = await routesOf(stack.baseUrl).create({ filename: "a.jpg", relativePath: long });
  expectError(create, 400, "InvalidRelativePath");
});

test("relative paths on multipart create: every route takes the upload's own key, foreign ones are refused", { timeout: 60_000 }, async () => {
  const api = routesOf(stack.baseUrl);
  const up = (await api.create({ filename: "clip.bin", relativePath: "videos/2024/clip.bin", namespace: "carol" })).json;
  assert.deepEqual(KEY.exec(up.key)?.slice(1), ["carol", "videos/2024/clip.bin"]);
  const twin = (await api.create({ filename: "clip.bin", relativePath: "videos/2024/clip.bin", namespace: "carol" })).json;
  assert.notEqual(twin.key, up.key, "the same relative path twice: two keys");
  const bytes = randomBytes(1000);
  const signed = await api.sign(up, 1);
  assert.equal(signed.status, 200, signed.text);
  const put = await fetch(signed.json.url, { method: "PUT", body: bytes });
  assert.equal(put.status, 200);
  const etag = put.headers.get("etag");
  assert.equal((await api.batch(up, [1, 2])).status, 200);
  assert.deepEqual((await api.list(up)).json.map((p) => p.ETag), [etag]);
  // The twin's key (well-formed, with directories) is not this upload's.
  for (const r of [await api.sign({ ...up, key: twin.key }, 1), await api.list({ ...up, key: twin.key }), await api.abort({ ...up, key: twin.key })]) {
    expectError(r, 403, "AccessDenied");
  }
  for (const key of [up.key.replace("/2024/", "//"), up.key.replace("/2024/", "/../"), up.key.replace("/2024/", "/2024/./")]) {
    expectError(await api.sign({ ...up, key }, 1), 400, "InvalidKey");
  }
  const done = await api.complete(up, [{ PartNumber: 1, ETag: etag }]);
  assert.equal(done.status, 200, done.text);
  assert.equal(done.json.key, up.key);
  assert.equal((await stack.debug.object(up.key)).sha256, hex(bytes));
  assert.equal((await api.abort(twin)).status, 200);
});

test("batch: 100 files signed at once, aligned with the request, each PUT stored; 0 or 101 files are 400", { timeout: 120_000 }, async () => {
  const files = Array.from({ length: 100 }, (_, i) => {
    const bytes = randomBytes(1000 + i);
    const relativePath = i < 2 ? "same/dir/twin.txt" : `album/${i % 7}/f${i}.txt`;
    return { bytes, entry: { filename: i < 2 ? "twin.txt" : `f${i}.txt`, type: "text/plain", relativePath, size: bytes.length, checksumSha256: b64(bytes), metadata: { index: String(i) } } };
  });
  const watch = watchStore();
  let r;
  try {
    r = await batch(stack.baseUrl, { files: files.map((f) => f.entry), namespace: "dave" });
    assert.deepEqual(watch.seen, [], "signing a batch asks the store nothing");
  } finally {
    watch.stop();
  }
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json), ["uploads"]);
  const { uploads } = r.json;
  assert.equal(uploads.length, 100);
  uploads.forEach((up, i) => {
    assert.deepEqual(Object.keys(up).sort(), ["expires", "fields", "headers", "key", "method", "url"]);
    assert.deepEqual(KEY.exec(up.key)?.slice(1), ["dave", files[i].entry.relativePath], `entry ${i}`);
    assert.equal(up.headers["x-amz-checksum-sha256"], files[i].entry.checksumSha256);
    assert.equal(up.headers["x-amz-meta-index"], String(i));
  });
  assert.notEqual(uploads[0].key, uploads[1].key, "the same relative path twice: two keys");
  assert.equal(new Set(uploads.map((u) => u.key)).size, 100);

  for (let i = 0; i < 100; i += 10) {
    const results = await Promise.all(uploads.slice(i, i + 10).map((up, j) => putSigned(up, files[i + j].bytes)));
    results.forEach((put, j) => assert.equal(put.status, 200, `entry ${i + j}: ${put.text}`));
  }
  for (const i of [0, 1, 57, 99]) {
    const stored = await stack.debug.object(uploads[i].key);
    assert.equal(stored.sha256, hex(files[i].bytes), `entry ${i} byte-identical`);
    assert.deepEqual(stored.metadata, { index: String(i) });
  }

  const many = files.map((f) => f.entry).concat([{ filename: "one-too-many.txt" }]);
  expectError(await batch(stack.baseUrl, { files: many }), 400, "InvalidArgument", /101/);
  expectError(await batch(stack.baseUrl, { files: [] }), 400, "InvalidArgument", /1 to 100/);
  assert.equal((await batch(stack.baseUrl, {})).status, 400, "no files field");
});

test("batch: one bad entry fails the whole call, naming its index", { timeout: 60_000 }, async () => {
  const good = (i) => ({ filename: `ok${i}.txt` });
  const withBad = (bad) => [good(0), good(1), good(2), bad, good(4)];
  expectError(await batch(stack.baseUrl, { files: withBad({ filename: "x", checksumSha256: "nope" }) }), 400, "InvalidChecksum", /^files\[3\]: /);
  expectError(await batch(stack.baseUrl, { files: withBad({ type: "text/plain" }) }), 400, "InvalidArgument", /^files\[3\]: filename/);
  expectError(await batch(stack.baseUrl, { files: withBad({ filename: "x", size: -1 }) }), 400, "InvalidArgument", /^files\[3\]: size/);
  expectError(await batch(stack.baseUrl, { files: withBad({ filename: "x", relativePath: `${"d/".repeat(40)}x` }) }), 400, "InvalidRelativePath", /^files\[3\]: /);
  const typed = await batch(stack.baseUrl, { files: withBad({ filename: 5 }) });
  assert.equal(typed.status, 400, typed.text);
  assert.match(typed.json.error.message, /files\[3\]\.filename/);
});

test("signing a single file asks the store nothing", { timeout: 60_000 }, async () => {
  const watch = watchStore();
  try {
    for (let i = 0; i < 20; i += 1) {
      const r = await params(stack.baseUrl, { filename: `n${i}.bin`, relativePath: `a/b/n${i}.bin`, checksumSha256: b64(Buffer.from([i])) });
      assert.equal(r.status, 200, r.text);
    }
    assert.deepEqual(watch.seen, []);
  } finally {
    watch.stop();
  }
});

test("JWT: the owner comes from the token, another namespace is ignored, no token is 401", { timeout: 60_000 }, async () => {
  const mine = await params(jwtBase, { filename: "a.txt", namespace: "bob", relativePath: "x/a.txt" }, bearer("alice"));
  assert.equal(mine.status, 200, mine.text);
  assert.deepEqual(KEY.exec(mine.json.key)?.slice(1), ["alice", "x/a.txt"]);
  const many = await batch(jwtBase, { files: [{ filename: "b.txt" }, { filename: "c.txt", relativePath: "y/c.txt" }], namespace: "bob" }, bearer("user:alice"));
  assert.equal(many.status, 200, many.text);
  assert.deepEqual(many.json.uploads.map((u) => KEY.exec(u.key)?.slice(1)), [["user_alice", "b.txt"], ["user_alice", "y/c.txt"]]);
  assert.equal((await putSigned(many.json.uploads[1], Buffer.from("c"))).status, 200);
  expectError(await params(jwtBase, { filename: "a.txt" }), 401, "MissingToken");
  expectError(await batch(jwtBase, { files: [{ filename: "a.txt" }] }), 401, "MissingToken");
  const forged = { authorization: `Bearer ${hs256Jwt({ sub: "alice", exp: epoch(300) }, "another secret of 32 bytes or more!!")}` };
  expectError(await params(jwtBase, { filename: "a.txt" }, forged), 401, "InvalidToken");
  // A multipart upload with a relative path: another user cannot touch it.
  const alice = routesOf(jwtBase, bearer("alice"));
  const up = (await alice.create({ filename: "v.bin", relativePath: "clips/v.bin" })).json;
  assert.deepEqual(KEY.exec(up.key)?.slice(1), ["alice", "clips/v.bin"]);
  expectError(await routesOf(jwtBase, bearer("bob")).sign(up, 1), 403, "AccessDenied");
  assert.equal((await alice.sign(up, 1)).status, 200);
  assert.equal((await alice.abort(up)).status, 200);
});

test("a browser page PUTs a small file with its listed headers (CORS preflight included)", { timeout: 60_000 }, async () => {
  const bytes = randomBytes(10_000);
  const up = (await params(stack.baseUrl, { filename: "page.bin", type: "application/x-test", metadata: { from: "a page" }, relativePath: "web/page.bin", checksumSha256: b64(bytes) })).json;
  // A page of the dev server's origin (one Playwright made up would not count as loopback).
  await stack.tab.goto(new URL("/style.css", stack.baseUrl).href);
  const result = await stack.tab.evaluate(
    async ({ url, method, headers, data }) => {
      const body = new Blob([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], { type: "text/plain" });
      try {
        const response = await fetch(url, { method, body, headers });
        return { status: response.status, text: await response.text() };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { url: up.url, method: up.method, headers: up.headers, data: bytes.toString("base64") },
  );
  assert.equal(result.status, 200, JSON.stringify(result));
  const stored = await stack.debug.object(up.key);
  assert.equal(stored.sha256, hex(bytes));
  assert.equal(stored.contentType, "application/x-test", "the listed type, not the Blob's");
  assert.deepEqual(stored.metadata, { from: "a page" });
});
