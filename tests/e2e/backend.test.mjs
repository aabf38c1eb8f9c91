// The backend remembers: the uploads table behind the dev server, the same
// suite against SQLite (the stack's server) and PostgreSQL (a cluster of
// this file's own), with auth off (owner = the client's namespace), against
// real Garage: lookup and adopt at create, ownership and key checks,
// signing without a store round trip, completes sent again, lost on the
// way back from the store or run at once (the store gate cuts or holds the
// store's answer to the dev server), the janitor; and two dev servers on
// one PostgreSQL.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand } from "@aws-sdk/client-s3";

import { call, putPart, randomSample, routesOf, rows, storeClient, storeUploads } from "./backend-client.mjs";
import { MIB, sleep, startStack, waitUntil, withTimeout } from "./harness.mjs";
import { startPostgres } from "./postgres.mjs";

let stack;
let pg;
const bases = {};

before(async () => {
  stack = await startStack({ label: "backend" });
  pg = await startPostgres({ notePid: stack.notePid });
  bases.sqlite = stack.baseUrl;
  const suiteDb = await pg.createDatabase("suite");
  bases.postgres = (await stack.startServer({ name: "postgres", env: { DATABASE_URL: suiteDb } })).baseUrl;
});
after(async () => {
  // The cluster first: the stack's stop kills every pid it noted.
  await pg?.stop();
  await stack?.stop();
});

const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

/**
 * Creates an upload with SHA-256 checksums under `namespace` and stores a
 * part of random bytes for each of `sizes`: { up, parts (for complete),
 * bytes, checksum (the object's composite SHA-256, as complete gives it) }.
 */
async function uploadParts(api, namespace, filename, sizes) {
  const created = await api.create({ filename, namespace, checksumAlgorithm: "SHA256" });
  assert.equal(created.status, 200, created.text);
  const up = created.json;
  const chunks = sizes.map((size) => randomBytes(size));
  const digests = chunks.map(sha256);
  const parts = [];
  for (const [i, chunk] of chunks.entries()) {
    const sum = digests[i].toString("base64");
    const signed = await api.sign(up, i + 1, `&checksumSha256=${encodeURIComponent(sum)}`);
    assert.equal(signed.status, 200, signed.text);
    const etag = await putPart(signed.json.url, chunk, signed.json.headers);
    parts.push({ PartNumber: i + 1, ETag: etag, ChecksumSHA256: sum });
  }
  const checksum = `${sha256(Buffer.concat(digests)).toString("base64")}-${digests.length}`;
  return { up, parts, bytes: Buffer.concat(chunks), checksum };
}

/** What a complete of `upload` (of uploadParts) answers. */
function completedBody({ up, checksum }) {
  return {
    location: `${stack.storeOrigin}/${up.bucket}/${up.key.split("/").map(encodeURIComponent).join("/")}`,
    key: up.key,
    bucket: up.bucket,
    checksumSha256: checksum,
    checksumType: "COMPOSITE",
  };
}

/** The state of an upload's row in a dev server's table. */
async function rowState(base, up) {
  return (await rows(base)).find((r) => r.uploadId === up.uploadId)?.state;
}

/** Asserts that the store holds `upload`'s object, byte-identical, and no longer the upload. */
async function assertStored(base, { up, bytes }) {
  const stored = await stack.debug.object(up.key);
  assert.ok(stored, `an object at ${up.key}`);
  assert.equal(stored.size, bytes.length);
  assert.equal(stored.sha256, createHash("sha256").update(bytes).digest("hex"), "byte-identical");
  assert.ok(!(await storeUploads(base)).includes(up.uploadId), "the multipart upload is gone from the store");
}

/** The gate's fault matching the dev server's CompleteMultipartUpload of `up`. */
const completeOf = (up) => ({ method: "POST", query: "uploadId", keySuffix: up.key });

/** The status the store (or the gate's fault) answered a faulted request, within 10 s. */
const storeAnswer = (fault) => withTimeout(fault.answered, 10_000, "the faulted store request to be answered");

/** Store requests of `watch` that were a CompleteMultipartUpload. */
const completesSeen = (watch) => watch.seen.filter((r) => r.startsWith("POST ") && /[?&]uploadId=/.test(r));

/** Watches every request the dev servers send to the store (through the gate). */
function watchStore() {
  const seen = [];
  const listener = (req) => seen.push(`${req.method} ${req.url}`);
  stack.gate.server.on("request", listener);
  return { seen, stop: () => stack.gate.server.off("request", listener) };
}

for (const backend of ["sqlite", "postgres"]) {
  test(`${backend}: a create with its content identity is found by lookup, by its owner only`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const id = { name: "Été report.bin", size: 20 * MIB, sample: randomSample() };
    const body = { filename: id.name, namespace: "alice", size: id.size, sampleSha256: id.sample, partSize: 8 * MIB, checksumAlgorithm: "SHA256" };
    const first = (await api.create(body)).json;
    const newest = (await api.create(body)).json;
    const found = await api.lookup({ ...id, namespace: "alice" });
    assert.equal(found.status, 200, found.text);
    assert.deepEqual(Object.keys(found.json).sort(), ["checksumAlgorithm", "createdAt", "key", "partSize", "uploadId"]);
    assert.equal(found.json.uploadId, newest.uploadId, "the newest open upload of that identity");
    assert.equal(found.json.key, newest.key);
    assert.equal(found.json.partSize, 8 * MIB);
    assert.equal(found.json.checksumAlgorithm, "SHA256");
    assert.ok(Math.abs(found.json.createdAt - Date.now()) < 60_000, String(found.json.createdAt));
    for (const other of [
      { ...id, namespace: "bob" },
      { ...id },
      { ...id, namespace: "alice", size: id.size + 1 },
      { ...id, namespace: "alice", name: "été report.bin" },
      { ...id, namespace: "alice", sample: randomSample() },
    ]) {
      const r = await api.lookup(other);
      assert.equal(r.status, 200, `${JSON.stringify(other)}: ${r.text}`);
      assert.equal(r.text, "null", `${JSON.stringify(other)}: none found`);
    }
    const [row] = (await rows(bases[backend])).filter((r) => r.uploadId === first.uploadId);
    assert.deepEqual(
      { owner: row.owner, name: row.name, size: row.size, sample: row.sampleSha256, partSize: row.partSize, state: row.state },
      { owner: "alice", name: id.name, size: id.size, sample: id.sample, partSize: 8 * MIB, state: "open" },
    );
    await api.abort(first);
    await api.abort(newest);
  });

  test(`${backend}: a plain Companion create is stored but never offered; bad identity fields are refused`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const plain = await api.create({ filename: "plain.bin" });
    assert.equal(plain.status, 200, plain.text);
    assert.deepEqual(Object.keys(plain.json).sort(), ["bucket", "key", "uploadId"]);
    const row = (await rows(bases[backend])).find((r) => r.uploadId === plain.json.uploadId);
    assert.equal(row.owner, "");
    assert.equal(row.sampleSha256, null);
    for (const bad of [{ size: -1 }, { size: "5" }, { partSize: 0 }, { sampleSha256: "ABC" }, { adopt: "true" }, { adopt: 1 }]) {
      const r = await api.create({ filename: "x", ...bad });
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
      assert.equal(r.json.error.code, "InvalidArgument");
    }
    // The lookup route is not the part list of an upload id "lookup".
    const noQuery = await call(bases[backend], "GET", "/api/s3/multipart/lookup");
    assert.equal(noQuery.status, 400, noQuery.text);
    assert.equal(noQuery.json.error.code, "InvalidArgument");
    await api.abort(plain.json);
  });

  test(`${backend}: names and namespaces the table cannot take are refused with 400 before anything is created`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const letters = (n) => Array.from(randomBytes(n), (b) => String.fromCharCode(97 + (b % 26))).join("");
    const before = { rows: await rows(bases[backend]), store: await storeUploads(bases[backend]) };
    const sample = randomSample();
    for (const [what, body] of [
      ["a NUL in filename", { filename: "a\u0000b.bin", namespace: "nul" }],
      ["a NUL in namespace", { filename: "a.bin", namespace: "n\u0000l" }],
      ["a filename over 1024 bytes", { filename: `${letters(3000)}.bin`, namespace: "long" }],
      ["a filename of 1025 bytes", { filename: letters(1025) }],
      ["a namespace over 1024 bytes", { filename: "a.bin", namespace: letters(3000) }],
      ["a NUL in an adopting create", { filename: "a\u0000b.bin", namespace: "nul", size: 1, sampleSha256: sample, checksumAlgorithm: "SHA256", adopt: true }],
    ]) {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const r = await api.create(body);
        assert.equal(r.status, 400, `${what}: ${r.text}`);
        assert.equal(r.json.error.code, "InvalidArgument", `${what}: ${r.text}`);
        assert.match(r.json.error.message, /filename|namespace/, what);
      }
    }
    for (const [what, query] of [
      ["a NUL in name", { name: "a\u0000b", size: 1, sample, namespace: "nul" }],
      ["a NUL in namespace", { name: "a", size: 1, sample, namespace: "n\u0000l" }],
      ["a name over 1024 bytes", { name: letters(1025), size: 1, sample, namespace: "long" }],
      ["a namespace over 1024 bytes", { name: "a", size: 1, sample, namespace: letters(1025) }],
    ]) {
      const r = await api.lookup(query);
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      assert.equal(r.json.error.code, "InvalidArgument", `${what}: ${r.text}`);
    }
    assert.deepEqual({ rows: await rows(bases[backend]), store: await storeUploads(bases[backend]) }, before, "nothing written, nothing created on the store");
    // At the limits (1024 bytes each, little to compress), both backends
    // take the row, and find it again.
    const id = { name: letters(1020) + "é.b", size: 1, sample, namespace: letters(1024) };
    assert.equal(Buffer.byteLength(id.name), 1024);
    const created = await api.create({ filename: id.name, namespace: id.namespace, size: 1, sampleSha256: sample, checksumAlgorithm: "SHA256" });
    assert.equal(created.status, 200, created.text);
    const found = await api.lookup(id);
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.uploadId, created.json.uploadId);
    assert.equal((await api.abort(created.json)).status, 200);
  });

  test(`${backend}: a create with adopt answers the caller's newest open upload of that identity, and creates nothing`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const id = { name: "adopt me.bin", size: 20 * MIB, sample: randomSample(), namespace: "gina" };
    const body = { filename: id.name, namespace: "gina", size: id.size, sampleSha256: id.sample, checksumAlgorithm: "SHA256" };
    const older = (await api.create({ ...body, partSize: 5 * MIB })).json;
    const first = (await api.create({ ...body, partSize: 8 * MIB })).json;
    const found = (await api.lookup(id)).json;
    const before = { rows: await rows(bases[backend]), store: await storeUploads(bases[backend]) };
    // Another part size in the body: the answer is the upload's own plan.
    const adopted = await api.create({ ...body, partSize: 6 * MIB, adopt: true });
    assert.equal(adopted.status, 200, adopted.text);
    assert.deepEqual(adopted.json, {
      key: first.key,
      uploadId: first.uploadId,
      bucket: first.bucket,
      checksumAlgorithm: "SHA256",
      adopted: true,
      partSize: 8 * MIB,
      createdAt: found.createdAt,
    });
    assert.equal((await api.create({ ...body, adopt: true })).json.uploadId, first.uploadId, "again: the same one");
    assert.deepEqual(
      { rows: await rows(bases[backend]), store: await storeUploads(bases[backend]) },
      before,
      "no row written, nothing created on the store",
    );
    assert.equal((await api.lookup(id)).json.uploadId, first.uploadId);
    assert.equal((await api.sign(adopted.json, 1)).status, 200, "and it is signed");
    await api.abort(first);
    const next = await api.create({ ...body, adopt: true });
    assert.equal(next.json.uploadId, older.uploadId, "the newest open one left");
    assert.equal(next.json.partSize, 5 * MIB);
    await api.abort(older);
  });

  test(`${backend}: two creates with adopt of one file at once: the second waits for the first and adopts its upload`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const body = { filename: "twice.bin", namespace: "jay", size: 9 * MIB, sampleSha256: randomSample(), partSize: 5 * MIB, checksumAlgorithm: "SHA256", adopt: true };
    // The store is slow to create the first: the second comes meanwhile
    // (a pause and resume, or a second tab). Before, both created one.
    let answer;
    const held = stack.gate.injectRequest({ method: "POST", query: "uploads" }, { holdAnswer: new Promise((resolve) => (answer = resolve)) });
    const first = api.create(body);
    await storeAnswer(held);
    const second = api.create(body);
    await sleep(300);
    answer();
    const [a, b] = [(await first).json, (await second).json];
    assert.equal(b.uploadId, a.uploadId, JSON.stringify([a, b]));
    assert.equal(b.adopted, true);
    assert.equal((await rows(bases[backend])).filter((r) => r.uploadId === a.uploadId || r.key.includes("twice.bin")).length, 1, "one row");
    await api.abort(a);
  });

  test(`${backend}: a create with adopt takes only an upload of the same metadata (its Content-Type may differ)`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const body = { filename: "ticket.bin", namespace: "iris", size: 9 * MIB, sampleSha256: randomSample(), partSize: 5 * MIB, checksumAlgorithm: "SHA256", adopt: true };
    const first = (await api.create({ ...body, type: "application/octet-stream", metadata: { ticket: "A" } })).json;
    const same = (await api.create({ ...body, type: "", metadata: { ticket: "A" } })).json;
    assert.equal(same.adopted, true, "the same metadata, another guess of the type: adopted");
    assert.equal(same.uploadId, first.uploadId);
    // Before, B's create was answered A's upload, and the object kept A's metadata.
    const other = (await api.create({ ...body, metadata: { ticket: "B" } })).json;
    assert.equal(other.adopted, undefined, other.key);
    assert.notEqual(other.uploadId, first.uploadId);
    await api.abort(first);
    await api.abort(other);
  });

  test(`${backend}: a create with adopt takes only an upload in its own folder`, { timeout: 60_000 }, async () => {
    // Two identical files in two folders of one batch are two objects: the
    // second must not be answered the first's upload while it is open.
    const api = routesOf(bases[backend]);
    const body = { filename: "twin.bin", namespace: "hal", size: 9 * MIB, sampleSha256: randomSample(), partSize: 5 * MIB, checksumAlgorithm: "SHA256", adopt: true };
    const inA = (await api.create({ ...body, relativePath: "a/twin.bin" })).json;
    const inB = (await api.create({ ...body, relativePath: "b/twin.bin" })).json;
    assert.equal(inB.adopted, undefined, inB.key);
    assert.notEqual(inB.uploadId, inA.uploadId);
    assert.match(inB.key, /\/b\/twin\.bin$/);
    const atRoot = (await api.create(body)).json;
    assert.equal(atRoot.adopted, undefined, "a file at the top is in no folder");
    // Without checksums, newer still: nothing shows its parts are the file's.
    const { checksumAlgorithm: _, ...unchecked } = body;
    const uncheckedInA = (await api.create({ ...unchecked, adopt: false, relativePath: "a/twin.bin" })).json;
    // Before, only the newest open upload of the content was looked at (the
    // unchecked one), and a's was created again: its parts sent twice.
    const againInA = (await api.create({ ...body, relativePath: "a/twin.bin" })).json;
    assert.equal(againInA.uploadId, inA.uploadId, "its own folder's, behind newer ones elsewhere and one without checksums");
    assert.equal(againInA.adopted, true);
    const inBAgain = (await api.create({ ...body, relativePath: "b/twin.bin" })).json;
    assert.equal(inBAgain.uploadId, inB.uploadId, "and b's");
    assert.equal(inBAgain.adopted, true);
    for (const up of [inA, inB, atRoot, uncheckedInA]) await api.abort(up);
  });

  test(`${backend}: a name in decomposed form (a Mac's) and in composed form (another device's) is one file to lookup and adopt`, { timeout: 60_000 }, async () => {
    // Before, the table kept and matched the name as sent: the same file
    // picked on a Mac and on a phone was two identities, and the phone
    // sent every part again.
    const api = routesOf(bases[backend]);
    const decomposed = { filename: "cafe\u0301.bin", relativePath: "Re\u0301sume\u0301s/cafe\u0301.bin" };
    const composed = { filename: decomposed.filename.normalize("NFC"), relativePath: decomposed.relativePath.normalize("NFC") };
    assert.notEqual(composed.filename, decomposed.filename);
    const body = { namespace: "ivy", size: 9 * MIB, sampleSha256: randomSample(), partSize: 5 * MIB, checksumAlgorithm: "SHA256", adopt: true };
    // An app may put the name in its metadata too, as Uppy's does.
    const onMac = (await api.create({ ...body, ...decomposed, metadata: { name: decomposed.filename } })).json;
    assert.equal(onMac.adopted, undefined, onMac.key);
    const onPhone = await api.create({ ...body, ...composed, metadata: { name: composed.filename } });
    assert.equal(onPhone.status, 200, onPhone.text);
    assert.equal(onPhone.json.uploadId, onMac.uploadId, onPhone.text);
    assert.equal(onPhone.json.adopted, true);
    const id = { size: body.size, sample: body.sampleSha256, namespace: "ivy" };
    for (const name of [composed.filename, decomposed.filename]) {
      assert.equal((await api.lookup({ ...id, name })).json?.uploadId, onMac.uploadId, `lookup of ${JSON.stringify(name)}`);
    }
    await api.abort(onMac);
  });

  test(`${backend}: a create with adopt never crosses owners`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const sample = randomSample();
    const body = { filename: "owned.bin", size: 9 * MIB, sampleSha256: sample, partSize: 5 * MIB, checksumAlgorithm: "SHA256", adopt: true };
    const alices = (await api.create({ ...body, namespace: "alice" })).json;
    assert.equal(alices.adopted, undefined, "nothing to adopt yet: a fresh upload");
    const created = [alices];
    for (const namespace of ["bob", undefined, "Alice"]) {
      const r = await api.create({ ...body, namespace });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.adopted, undefined, `namespace ${namespace}: ${r.text}`);
      assert.notEqual(r.json.uploadId, alices.uploadId, `namespace ${namespace}`);
      created.push(r.json);
    }
    const again = (await api.create({ ...body, namespace: "alice" })).json;
    assert.equal(again.uploadId, alices.uploadId, "alice's own, not the newer ones of others");
    assert.equal(again.adopted, true);
    for (const up of created) await api.abort(up);
  });

  test(`${backend}: without adopt, checksums or a whole identity, or once the upload is finished, a create creates`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const id = { name: "fresh.bin", size: 0, sample: randomSample(), namespace: "hugo" };
    const body = { filename: id.name, namespace: "hugo", size: id.size, sampleSha256: id.sample, partSize: 5 * MIB, checksumAlgorithm: "SHA256" };
    const earlier = (await api.create(body)).json;
    const created = [earlier];
    /** Creates with `extra`: a fresh upload, answered as today. */
    const fresh = async (extra, what) => {
      const r = await api.create({ ...body, ...extra });
      assert.equal(r.status, 200, `${what}: ${r.text}`);
      const keys = extra.checksumAlgorithm === null ? ["bucket", "key", "uploadId"] : ["bucket", "checksumAlgorithm", "key", "uploadId"];
      assert.deepEqual(Object.keys(r.json).sort(), keys, what);
      assert.ok(!created.some((up) => up.uploadId === r.json.uploadId), `${what}: a new upload id`);
      created.push(r.json);
      return r.json;
    };
    await fresh({}, "no adopt");
    await fresh({ adopt: false }, "adopt: false");
    await fresh({ adopt: null }, "adopt: null");
    await fresh({ adopt: true, size: null }, "no size");
    await fresh({ adopt: true, sampleSha256: null }, "no sample");
    await fresh({ adopt: true, size: 1 }, "another size");
    await fresh({ adopt: true, checksumAlgorithm: null }, "no checksums asked");
    for (const up of created) assert.equal((await api.abort(up)).status, 200);
    created.length = 0;

    const plainAlone = (await api.create({ ...body, checksumAlgorithm: null })).json;
    created.push(plainAlone);
    await fresh({ adopt: true }, "the only open upload has no checksums");
    for (const up of created) assert.equal((await api.abort(up)).status, 200);
    created.length = 0;

    // A newer upload without checksums does not hide an older one with them.
    const summed = (await api.create(body)).json;
    const plain = (await api.create({ ...body, checksumAlgorithm: null })).json;
    const behind = (await api.create({ ...body, adopt: true })).json;
    assert.equal(behind.uploadId, summed.uploadId, "the newest open upload with checksums");
    assert.equal(behind.adopted, true);
    for (const up of [summed, plain]) assert.equal((await api.abort(up)).status, 200);

    const aborted = (await api.create(body)).json;
    created.push(aborted);
    assert.equal((await api.abort(aborted)).status, 200);
    await fresh({ adopt: true }, "after an abort");
    const completed = created.at(-1);
    assert.equal((await api.complete(completed, [])).status, 200);
    await fresh({ adopt: true }, "after a complete");
    assert.equal((await api.create({ ...body, adopt: true })).json.uploadId, created.at(-1).uploadId, "the fresh one is adopted next");
    await api.abort(created.at(-1));
  });

  test(`${backend}: GET …/complete answers a completed upload's object as its complete did, 404 for any other, 502 when the store cannot be asked`, { timeout: 60_000 }, async () => {
    // What a device asks when its upload is gone: another device that
    // adopted it may have completed it.
    const api = routesOf(bases[backend]);
    const { up, parts, checksum } = await uploadParts(api, "kim", "asked.bin", [5 * MIB, 1000]);
    const open = await api.completed(up);
    assert.equal(open.status, 404, open.text);
    assert.equal(open.json.error.code, "NoSuchUpload", "an open upload was not completed");
    // A store that cannot be asked is no answer: never a 404, which would
    // send the client to a fresh upload and a second object.
    const failing = stack.gate.injectRequest({ method: "GET", query: "uploadId", keySuffix: up.key }, { status: 500, body: "<Error><Code>InternalError</Code><Message>down</Message></Error>" });
    const unsure = await api.completed(up);
    assert.equal(unsure.status, 502, unsure.text);
    assert.equal(await storeAnswer(failing), 500, "the store was asked");
    const completed = await api.complete(up, parts);
    assert.equal(completed.status, 200, completed.text);
    assert.equal(completed.json.checksumSha256, checksum);
    const asked = await api.completed(up);
    assert.equal(asked.status, 200, asked.text);
    assert.deepEqual(asked.json, completed.json, "the complete's own answer, its checksum with it");
    const other = routesOf(bases[backend]);
    assert.equal((await other.completed({ ...up, key: `${up.key}x` })).status, 403, "only under its own key");
    const aborted = (await api.create({ filename: "gone.bin", namespace: "kim" })).json;
    await api.abort(aborted);
    const gone = await api.completed(aborted);
    assert.equal(gone.status, 404, gone.text);
    assert.equal(gone.json.error.code, "NoSuchUpload");
    assert.equal((await api.completed({ uploadId: "never", key: up.key })).status, 404);
    // The store completed one whose answer never reached the server: its
    // row is still open, and the question settles it.
    const lost = await uploadParts(api, "kim", "lost then asked.bin", [4321]);
    const cut = stack.gate.injectRequest(completeOf(lost.up), { cutAnswer: true });
    assert.equal((await api.complete(lost.up, lost.parts)).status, 502);
    assert.equal(await storeAnswer(cut), 200);
    assert.equal(await rowState(bases[backend], lost.up), "open");
    const settled = await api.completed(lost.up);
    assert.equal(settled.status, 200, settled.text);
    assert.deepEqual(settled.json, completedBody(lost));
    assert.equal(await rowState(bases[backend], lost.up), "completed");
  });

  test(`${backend}: completed and aborted uploads are no longer offered or signed`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const id = { name: "done.bin", size: 0, sample: randomSample(), namespace: "carol" };
    const done = (await api.create({ filename: id.name, namespace: "carol", size: 0, sampleSha256: id.sample })).json;
    const completed = await api.complete(done, []);
    assert.equal(completed.status, 200, completed.text);
    assert.equal((await api.lookup(id)).text, "null");
    const signed = await api.sign(done, 1);
    assert.equal(signed.status, 404, signed.text);
    assert.equal(signed.json.error.code, "NoSuchUpload");
    const aborted = (await api.create({ filename: id.name, namespace: "carol", size: 0, sampleSha256: id.sample })).json;
    assert.equal((await api.lookup(id)).json.uploadId, aborted.uploadId);
    assert.equal((await api.abort(aborted)).status, 200);
    assert.equal((await api.lookup(id)).text, "null");
    // A complete sent again answers as the first; an aborted upload's is
    // refused from the table, without asking the store.
    const watch = watchStore();
    try {
      const again = await api.complete(done, []);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json, completed.json);
      const refused = await api.complete(aborted, []);
      assert.equal(refused.status, 404, refused.text);
      assert.equal(refused.json.error.code, "NoSuchUpload");
      assert.deepEqual(completesSeen(watch), [], "no complete reached the store");
    } finally {
      watch.stop();
    }
    // An abort the store did, its answer lost on the way to the server: the
    // row stays open, and a complete then finds neither the upload nor an
    // object at its key (a HEAD): 404, and the row is marked aborted.
    const lost = (await api.create({ filename: "lost abort.bin", namespace: "carol" })).json;
    const cut = stack.gate.injectRequest({ method: "DELETE", query: "uploadId", keySuffix: lost.key }, { cutAnswer: true });
    const abortLost = await api.abort(lost);
    assert.equal(abortLost.status, 502, abortLost.text);
    assert.equal(await storeAnswer(cut), 204, "the store aborted the upload");
    assert.equal(await rowState(bases[backend], lost), "open");
    const gone = await api.complete(lost, []);
    assert.equal(gone.status, 404, gone.text);
    assert.equal(gone.json.error.code, "NoSuchUpload");
    assert.equal(await stack.debug.object(lost.key), null, "no object was made");
    const states = Object.fromEntries((await rows(bases[backend])).map((r) => [r.uploadId, r.state]));
    assert.equal(states[done.uploadId], "completed");
    assert.equal(states[aborted.uploadId], "aborted");
    assert.equal(states[lost.uploadId], "aborted");
  });

  test(`${backend}: a complete sent again answers as the first did, and the store completes once`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const upload = await uploadParts(api, "ivan", "twice.bin", [5 * MIB, 1234]);
    const watch = watchStore();
    let first;
    let again;
    try {
      first = await api.complete(upload.up, upload.parts);
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(first.json, completedBody(upload));
      // The first answer was lost on the way to the client: it sends the
      // same complete again.
      again = await api.complete(upload.up, upload.parts);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json, first.json);
      assert.equal(completesSeen(watch).length, 1, `the store is asked to complete once: ${watch.seen.join(", ")}`);
    } finally {
      watch.stop();
    }
    assert.equal(await rowState(bases[backend], upload.up), "completed");
    await assertStored(bases[backend], upload);
    const signed = await api.sign(upload.up, 3);
    assert.equal(signed.status, 404, "still closed to signing");
    assert.equal((await api.list(upload.up)).status, 404);
  });

  test(`${backend}: a complete whose store answer was lost: the retry answers 200 with the object, the row ends completed`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const upload = await uploadParts(api, "judy", "lost answer.bin", [5 * MIB, 4321]);
    // The store completes the upload; its answer never reaches the server.
    const cut = stack.gate.injectRequest(completeOf(upload.up), { cutAnswer: true });
    const lost = await api.complete(upload.up, upload.parts);
    assert.equal(await storeAnswer(cut), 200, "the store completed the upload");
    assert.equal(lost.status, 502, lost.text);
    assert.equal(await rowState(bases[backend], upload.up), "open", "the server did not hear of it");
    // The client retries: the store no longer has the upload, but the
    // object is at its key.
    const retried = await api.complete(upload.up, upload.parts);
    assert.equal(retried.status, 200, retried.text);
    assert.deepEqual(retried.json, completedBody(upload));
    assert.equal(await rowState(bases[backend], upload.up), "completed");
    await assertStored(bases[backend], upload);
    const again = await api.complete(upload.up, upload.parts);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, retried.json);
  });

  test(`${backend}: a part list or an abort after a lost complete marks the row completed`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    for (const [route, filename] of [["list", "listed after.bin"], ["abort", "aborted after.bin"]]) {
      const upload = await uploadParts(api, "kim", filename, [4321]);
      const cut = stack.gate.injectRequest(completeOf(upload.up), { cutAnswer: true });
      assert.equal((await api.complete(upload.up, upload.parts)).status, 502);
      assert.equal(await storeAnswer(cut), 200);
      // A client resuming asks for the parts (or gives up and aborts): the
      // store has no such upload any more, and the object is there.
      const answer = await api[route](upload.up);
      assert.equal(answer.status, 404, `${route}: ${answer.text}`);
      assert.equal(answer.json.error.code, "NoSuchUpload");
      assert.equal(await rowState(bases[backend], upload.up), "completed", route);
      const completed = await api.complete(upload.up, upload.parts);
      assert.equal(completed.status, 200, `${route}: ${completed.text}`);
      assert.deepEqual(completed.json, completedBody(upload));
      await assertStored(bases[backend], upload);
    }
  });

  test(`${backend}: two completes at once both answer 200, and the row ends completed`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const upload = await uploadParts(api, "leo", "twice at once.bin", [5 * MIB, 999]);
    const watch = watchStore();
    let release;
    const held = stack.gate.injectRequest(completeOf(upload.up), { holdAnswer: new Promise((resolve) => (release = resolve)) });
    try {
      // The first complete is done on the store, its answer held back on
      // the way to the server; the second runs meanwhile.
      const first = api.complete(upload.up, upload.parts);
      assert.equal(await storeAnswer(held), 200, "the store completed the upload");
      const second = await api.complete(upload.up, upload.parts);
      assert.equal(second.status, 200, second.text);
      assert.deepEqual(second.json, completedBody(upload));
      assert.equal(await rowState(bases[backend], upload.up), "completed");
      release();
      const firstAnswer = await first;
      assert.equal(firstAnswer.status, 200, firstAnswer.text);
      assert.deepEqual(firstAnswer.json, completedBody(upload));
      assert.equal(completesSeen(watch).length, 2);
    } finally {
      release();
      watch.stop();
    }
    assert.equal(await rowState(bases[backend], upload.up), "completed");
    await assertStored(bases[backend], upload);
  });

  test(`${backend}: when the store cannot say whether an upload was completed, complete answers 502 and the row stays open`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const upload = await uploadParts(api, "mia", "cannot say.bin", [4321]);
    const cut = stack.gate.injectRequest(completeOf(upload.up), { cutAnswer: true });
    assert.equal((await api.complete(upload.up, upload.parts)).status, 502);
    assert.equal(await storeAnswer(cut), 200);
    // The retry gets NoSuchUpload from the store, and the HEAD of the key
    // fails: neither completed nor aborted.
    const failed = stack.gate.injectRequest({ method: "HEAD", keySuffix: upload.up.key }, { status: 500 });
    const answer = await api.complete(upload.up, upload.parts);
    assert.equal(answer.status, 502, answer.text);
    assert.equal(await storeAnswer(failed), 500, "the HEAD was asked");
    assert.equal(await rowState(bases[backend], upload.up), "open");
    // Once the store can say, the next retry completes.
    const retried = await api.complete(upload.up, upload.parts);
    assert.equal(retried.status, 200, retried.text);
    assert.deepEqual(retried.json, completedBody(upload));
    assert.equal(await rowState(bases[backend], upload.up), "completed");
  });

  test(`${backend}: when the store refuses the HEAD (403, as AWS answers without ListBucket), complete answers 502, not an ownership 403`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const upload = await uploadParts(api, "mia", "refused head.bin", [4321]);
    const cut = stack.gate.injectRequest(completeOf(upload.up), { cutAnswer: true });
    assert.equal((await api.complete(upload.up, upload.parts)).status, 502);
    assert.equal(await storeAnswer(cut), 200);
    // The retry gets NoSuchUpload from the store, and the HEAD of the key is
    // refused: the store cannot say whether the upload was completed.
    const refused = stack.gate.injectRequest({ method: "HEAD", keySuffix: upload.up.key }, { status: 403 });
    const answer = await api.complete(upload.up, upload.parts);
    assert.equal(await storeAnswer(refused), 403, "the HEAD was asked");
    assert.equal(answer.status, 502, answer.text);
    assert.notEqual(answer.json.error.code, "AccessDenied", answer.text);
    assert.equal(await rowState(bases[backend], upload.up), "open");
    const retried = await api.complete(upload.up, upload.parts);
    assert.equal(retried.status, 200, retried.text);
    assert.deepEqual(retried.json, completedBody(upload));
    assert.equal(await rowState(bases[backend], upload.up), "completed");
  });

  test(`${backend}: signing asks the store nothing; a key or upload id not of the row is refused`, { timeout: 60_000 }, async () => {
    const api = routesOf(bases[backend]);
    const a = (await api.create({ filename: "a.bin", namespace: "dave" })).json;
    const b = (await api.create({ filename: "b.bin", namespace: "dave" })).json;
    const watch = watchStore();
    try {
      for (let n = 1; n <= 20; n += 1) assert.equal((await api.sign(a, n)).status, 200);
      const batch = await api.batch(a, [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(batch.status, 200, batch.text);
      assert.equal(Object.keys(batch.json.presignedUrls).length, 8);
      assert.deepEqual(watch.seen, [], "no store request while signing");
      const foreignKey = await api.sign({ uploadId: a.uploadId, key: b.key }, 1);
      assert.equal(foreignKey.status, 403, foreignKey.text);
      assert.equal(foreignKey.json.error.code, "AccessDenied");
      assert.equal((await api.list({ uploadId: a.uploadId, key: b.key })).status, 403);
      assert.equal((await api.complete({ uploadId: a.uploadId, key: b.key }, [])).status, 403);
      assert.equal((await api.abort({ uploadId: a.uploadId, key: b.key })).status, 403);
      const unknown = await api.sign({ uploadId: "not-an-upload", key: a.key }, 1);
      assert.equal(unknown.status, 404, unknown.text);
      assert.equal(unknown.json.error.code, "NoSuchUpload");
      assert.deepEqual(watch.seen, [], "nothing refused reached the store");
      assert.equal((await api.list(a)).status, 200);
      assert.ok(watch.seen.some((r) => r.startsWith("GET ")), "the part list does ask the store");
    } finally {
      watch.stop();
    }
    assert.deepEqual((await api.list(b)).json, []);
    await api.abort(a);
    await api.abort(b);
  });
}

test("two dev servers on one PostgreSQL: created through one, signed, listed and completed through the other", { timeout: 120_000 }, async () => {
  const shared = await pg.createDatabase("shared");
  const one = routesOf((await stack.startServer({ name: "shared-1", env: { DATABASE_URL: shared } })).baseUrl);
  const otherBase = (await stack.startServer({ name: "shared-2", env: { DATABASE_URL: shared } })).baseUrl;
  const other = routesOf(otherBase);
  const bytes = randomBytes(5 * MIB + 12345);
  const id = { name: "two servers.bin", size: bytes.length, sample: randomSample(), namespace: "erin" };
  const up = (await one.create({ filename: id.name, namespace: "erin", size: id.size, sampleSha256: id.sample, partSize: 5 * MIB })).json;
  const found = await other.lookup(id);
  assert.equal(found.status, 200, found.text);
  assert.equal(found.json.uploadId, up.uploadId);
  const signed = await other.batch(up, [1, 2]);
  assert.equal(signed.status, 200, signed.text);
  const etag1 = await putPart(signed.json.presignedUrls["1"], bytes.subarray(0, 5 * MIB));
  const etag2 = await putPart(signed.json.presignedUrls["2"], bytes.subarray(5 * MIB));
  const listed = await other.list(up);
  assert.deepEqual(listed.json.map((p) => [p.PartNumber, p.ETag]), [[1, etag1], [2, etag2]]);
  const completed = await other.complete(up, [{ PartNumber: 1, ETag: etag1 }, { PartNumber: 2, ETag: etag2 }]);
  assert.equal(completed.status, 200, completed.text);
  const stored = await stack.debug.object(up.key);
  assert.equal(stored.size, bytes.length);
  assert.equal(stored.sha256, createHash("sha256").update(bytes).digest("hex"), "byte-identical");
  assert.equal((await one.lookup(id)).text, "null", "completed through the other: not offered by the first either");
  // The first server's cache still says open (it created the upload): it
  // signs without asking the store, and the store refuses the PUT.
  const stale = await one.sign(up, 3);
  assert.equal(stale.status, 200, stale.text);
  const put = await fetch(stale.json.url, { method: "PUT", body: bytes.subarray(0, 10) });
  const refusal = await put.text();
  assert.equal(put.status, 404, refusal);
  assert.match(refusal, /NoSuchUpload/);
  assert.equal((await one.list(up)).status, 404, "list reads the table: no such upload");
  assert.equal((await one.sign(up, 3)).status, 404, "and the cache learnt it");
  assert.equal((await rows(otherBase)).find((r) => r.uploadId === up.uploadId).state, "completed");
});

test("a store refusing the server's own request (403, another 4xx) answers 502, never a 4xx that blames the client", { timeout: 60_000 }, async () => {
  const api = routesOf(stack.baseUrl);
  const denied = { status: 403, body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>" };
  const skewed = { status: 403, body: "<Error><Code>RequestTimeTooSkewed</Code><Message>too far</Message></Error>" };
  const expectBadGateway = (r, what, storeStatus = 403) => {
    assert.equal(r.status, 502, `${what}: ${r.text}`);
    assert.notEqual(r.json.error.code, "AccessDenied", `${what}: ${r.text}`);
    assert.ok(r.json.error.message.includes(String(storeStatus)), `${what}: the store's answer is named: ${r.text}`);
  };
  const before = await storeUploads(stack.baseUrl);
  let fault = stack.gate.injectRequest({ method: "POST", query: "uploads" }, denied);
  expectBadGateway(await api.create({ filename: "denied.bin", namespace: "olga" }), "create");
  assert.equal(await storeAnswer(fault), 403);
  assert.deepEqual(await storeUploads(stack.baseUrl), before, "nothing created");

  const up = (await api.create({ filename: "denied later.bin", namespace: "olga" })).json;
  fault = stack.gate.injectRequest({ method: "GET", query: "uploadId", keySuffix: up.key }, skewed);
  expectBadGateway(await api.list(up), "list");
  assert.equal(await storeAnswer(fault), 403);
  fault = stack.gate.injectRequest(completeOf(up), denied);
  const bytes = randomBytes(100);
  const signed = await api.sign(up, 1);
  const etag = await putPart(signed.json.url, bytes);
  expectBadGateway(await api.complete(up, [{ PartNumber: 1, ETag: etag }]), "complete");
  assert.equal(await storeAnswer(fault), 403);
  fault = stack.gate.injectRequest({ method: "DELETE", query: "uploadId", keySuffix: up.key }, { status: 400, body: "<Error><Code>AuthorizationHeaderMalformed</Code><Message>m</Message></Error>" });
  expectBadGateway(await api.abort(up), "abort", 400);
  assert.equal(await storeAnswer(fault), 400);
  assert.equal(await rowState(stack.baseUrl, up), "open", "nothing was decided");
  // The client's own mistakes still pass through as the store gives them.
  const wrong = await api.complete(up, [{ PartNumber: 1, ETag: '"0123456789abcdef0123456789abcdef"' }]);
  assert.equal(wrong.status, 400, wrong.text);
  assert.equal(wrong.json.error.code, "InvalidPart");
  assert.equal((await api.complete(up, [{ PartNumber: 1, ETag: etag }])).status, 200);
  assert.equal((await api.list(up)).status, 404);
});

test("a complete of 10,000 parts with checksums reaches the store: its body is over 1 MiB", { timeout: 60_000 }, async () => {
  const api = routesOf(stack.baseUrl);
  const created = await api.create({ filename: "huge.bin", namespace: "complete-limit", checksumAlgorithm: "SHA256" });
  assert.equal(created.status, 200, created.text);
  const up = created.json;
  // What the library sends for the largest upload S3 takes: every part
  // with its ETag and SHA-256 (about 130 bytes each).
  const parts = Array.from({ length: 10_000 }, (_, i) => ({
    PartNumber: i + 1,
    ETag: `"${randomBytes(16).toString("hex")}"`,
    ChecksumSHA256: randomBytes(32).toString("base64"),
  }));
  assert.ok(JSON.stringify({ parts }).length > 1.2 * MIB);
  const answer = await api.complete(up, parts);
  // The store has none of these parts: its refusal ("No data was
  // uploaded", Garage's), passed on, shows the request reached it (before, the server answered 413 and every resume
  // of such an upload sent the same complete again).
  assert.equal(answer.status, 400, answer.text);
  assert.match(answer.json.error.message, /^CompleteMultipartUpload: /, "the store's answer");
  assert.equal((await api.abort(up)).status, 200);
});

test("a small-file batch of more than 100 files is refused, up to a 1 MiB body of entries", { timeout: 60_000 }, async () => {
  const files = (count) => Array.from({ length: count }, (_, i) => ({ filename: `f${i}.txt` }));
  const batch = (body) => call(stack.baseUrl, "POST", "/api/s3/params/batch", { body });
  const refused = await batch({ files: files(101) });
  assert.equal(refused.status, 400, refused.text);
  assert.equal(refused.json.error.code, "InvalidArgument");
  assert.match(refused.json.error.message, /^files has 101 entries/);
  // A body just under 1 MiB of empty entries (some 350,000): the same
  // answer (the entries past the 100th are counted, never built).
  const many = `{"files":[${"{},".repeat(349_000)}{}]}`;
  assert.ok(many.length < MIB, String(many.length));
  const big = await batch(many);
  assert.equal(big.status, 400, big.text);
  assert.equal(big.json.error.code, "InvalidArgument");
  assert.match(big.json.error.message, /^files has 349001 entries/);
  const empty = await batch({ files: [] });
  assert.equal(empty.status, 400, empty.text);
  assert.equal(empty.json.error.code, "InvalidArgument");
  const signed = await batch({ files: files(100) });
  assert.equal(signed.status, 200, signed.text);
  assert.equal(signed.json.uploads.length, 100);
  // A bad entry is still named by its place in the body.
  const typed = await batch({ files: [{ filename: "a" }, { filename: 7 }] });
  assert.equal(typed.status, 400, typed.text);
  assert.match(typed.text, /files\[1\]\.filename/);
});

for (const backend of ["sqlite", "postgres"]) {
  test(`${backend}: the janitor aborts expired uploads and orphans, and removes finished rows; another app's uploads stay`, { timeout: 120_000 }, async () => {
    const env = backend === "postgres" ? { DATABASE_URL: await pg.createDatabase(`janitor_${Date.now()}`) } : {};
    const args = ["--upload-expiry", "3", "--keep-finished", "1", "--janitor-every", "1"];
    // Another app's multipart upload in the same bucket, begun before the expiry's cutoff.
    // As another app sharing the bucket would reach it.
    const store = storeClient(stack.storeEnv);
    const foreign = { Bucket: stack.storeEnv.S3_BUCKET, Key: `backups/nightly-${backend}.tar` };
    foreign.UploadId = (await store.send(new CreateMultipartUploadCommand(foreign))).UploadId;
    // ...and one under the same `uploads/` prefix, of another shape than this server's keys.
    const foreignUnder = { Bucket: stack.storeEnv.S3_BUCKET, Key: `uploads/2026/report-${backend}.pdf` };
    foreignUnder.UploadId = (await store.send(new CreateMultipartUploadCommand(foreignUnder))).UploadId;
    const janitor = await stack.startServer({ name: `janitor-${backend}`, env, args });
    const api = routesOf(janitor.baseUrl);
    try {
      const expiring = (await api.create({ filename: "expiring.bin", namespace: "frank" })).json;
      const finished = (await api.create({ filename: "finished.bin", namespace: "frank" })).json;
      assert.equal((await api.complete(finished, [])).status, 200);
      // An upload of another server (another table): an orphan here.
      const orphan = (await routesOf(stack.baseUrl).create({ filename: "orphan.bin" })).json;
      const live = [expiring.uploadId, orphan.uploadId];
      assert.deepEqual((await storeUploads(janitor.baseUrl)).filter((u) => live.includes(u)).sort(), [...live].sort());
      await waitUntil(async () => (await rows(janitor.baseUrl)).length === 0, { timeout: 30_000, interval: 500, what: "the janitor to empty the table" });
      await waitUntil(async () => !(await storeUploads(janitor.baseUrl)).some((u) => live.includes(u)), {
        timeout: 30_000,
        interval: 500,
        what: "the janitor to abort the expired upload and the orphan on the store",
      });
      const r = await api.sign(expiring, 1);
      assert.equal(r.status, 404, r.text);
      // Sweeps ran every second past the foreign upload's expiry too.
      assert.ok((await storeUploads(janitor.baseUrl)).includes(foreign.UploadId), "another app's upload stays");
      assert.ok((await storeUploads(janitor.baseUrl)).includes(foreignUnder.UploadId), "another app's upload under uploads/ stays");
    } finally {
      janitor.process.kill("SIGTERM");
      await store.send(new AbortMultipartUploadCommand(foreignUnder)).catch(() => {});
      await store.send(new AbortMultipartUploadCommand(foreign)).catch(() => {});
      store.destroy();
    }
  });
}

test("an upload near its expiry is no longer offered: an adopting create creates, and what is sent to it outlives the sweep", { timeout: 60_000 }, async () => {
  // Expiry 8 s: offered for its first 6 s (a quarter, up to a day, is kept
  // for the adopter to finish in). Sweeps only when asked.
  const args = ["--upload-expiry", "8", "--keep-finished", "3600", "--janitor-every", "3600"];
  const janitor = await stack.startServer({ name: "janitor-margin", args });
  const api = routesOf(janitor.baseUrl);
  try {
    const id = { name: "late.bin", size: 9 * MIB, sample: randomSample(), namespace: "ivy" };
    const body = { filename: id.name, namespace: id.namespace, size: id.size, sampleSha256: id.sample, partSize: 5 * MIB, checksumAlgorithm: "SHA256" };
    const old = (await api.create(body)).json;
    assert.equal((await api.lookup(id)).json.uploadId, old.uploadId, "offered while young");
    await sleep(6_500);
    assert.equal((await api.lookup(id)).json, null, "1.5 s left: not offered");
    const late = await api.create({ ...body, adopt: true });
    assert.equal(late.status, 200, late.text);
    assert.notEqual(late.json.uploadId, old.uploadId, "a fresh upload, not the one about to go");
    assert.equal(late.json.adopted, undefined);
    const part = randomBytes(5 * MIB);
    const sum = sha256(part).toString("base64");
    const signed = await api.sign(late.json, 1, `&checksumSha256=${encodeURIComponent(sum)}`);
    assert.equal(signed.status, 200, signed.text);
    await putPart(signed.json.url, part, signed.json.headers);
    await sleep(2_000);
    const swept = await call(janitor.baseUrl, "POST", "/api/debug/janitor");
    assert.equal(swept.json.expired, 1, swept.text);
    const listed = await api.list(late.json);
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json.map((p) => p.PartNumber), [1], "the part sent after the late create is kept");
  } finally {
    janitor.process.kill("SIGTERM");
  }
});

test("the janitor keeps an expired upload's row while the store refuses its abort, and aborts it on a later sweep", { timeout: 60_000 }, async () => {
  // Sweeps only when asked (and one at start), so each is run by the test.
  const args = ["--upload-expiry", "2", "--keep-finished", "3600", "--janitor-every", "3600"];
  const janitor = await stack.startServer({ name: "janitor-retry", args });
  const api = routesOf(janitor.baseUrl);
  const sweep = () => call(janitor.baseUrl, "POST", "/api/debug/janitor");
  // The key may not list the bucket's uploads (s3:ListBucketMultipartUploads
  // is optional): the orphan step fails at every sweep, and cannot hide a
  // lost row.
  const refuseListing = () => stack.gate.injectRequest({ method: "GET", query: "uploads" }, { status: 403, body: "<Error><Code>AccessDenied</Code></Error>" });
  try {
    const failing = (await api.create({ filename: "abort fails.bin", namespace: "pat" })).json;
    const gone = (await api.create({ filename: "already gone.bin", namespace: "pat" })).json;
    await sleep(2_500);
    let listing = refuseListing();
    const refused = stack.gate.injectRequest({ method: "DELETE", query: "uploadId", keySuffix: failing.key }, { status: 500 });
    const goneAbort = stack.gate.injectRequest(
      { method: "DELETE", query: "uploadId", keySuffix: gone.key },
      { status: 404, body: "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>" },
    );
    const first = await sweep();
    assert.equal(await storeAnswer(refused), 500, "the abort was asked and refused");
    assert.equal(await storeAnswer(goneAbort), 404);
    assert.equal(await storeAnswer(listing), 403);
    assert.equal(first.status, 500, first.text);
    const left = await rows(janitor.baseUrl);
    assert.deepEqual(
      left.map((r) => [r.uploadId, r.state]).sort(),
      [[failing.uploadId, "open"], [gone.uploadId, "aborted"]].sort(),
      "the refused one is kept; NoSuchUpload with no object counts as aborted",
    );
    assert.ok((await storeUploads(janitor.baseUrl)).includes(failing.uploadId));
    // The next sweep retries it, and the store aborts it.
    listing = refuseListing();
    await sweep();
    assert.equal(await storeAnswer(listing), 403);
    assert.deepEqual((await rows(janitor.baseUrl)).map((r) => [r.uploadId, r.state]), [[gone.uploadId, "aborted"]]);
    assert.ok(!(await storeUploads(janitor.baseUrl)).includes(failing.uploadId), "aborted on the store");
  } finally {
    janitor.process.kill("SIGTERM");
  }
});

test("an expired upload whose abort the store refuses stays open although the store lists it: the orphan step leaves it to the row step", { timeout: 60_000 }, async () => {
  const args = ["--upload-expiry", "2", "--keep-finished", "3600", "--janitor-every", "3600"];
  const janitor = await stack.startServer({ name: "janitor-listed", args });
  const api = routesOf(janitor.baseUrl);
  const sweep = () => call(janitor.baseUrl, "POST", "/api/debug/janitor");
  try {
    const failing = (await api.create({ filename: "abort fails twice.bin", namespace: "quinn" })).json;
    await sleep(2_500);
    // Refused as often as it is asked: before, the orphan step asked again
    // (the store lists the upload), was refused, and marked the row aborted.
    const refusals = [1, 2].map(() => stack.gate.injectRequest({ method: "DELETE", query: "uploadId", keySuffix: failing.key }, { status: 500 }));
    const first = await sweep();
    assert.equal(first.status, 200, first.text);
    assert.equal(await storeAnswer(refusals[0]), 500, "the row step asked and was refused");
    assert.deepEqual((await rows(janitor.baseUrl)).map((r) => [r.uploadId, r.state]), [[failing.uploadId, "open"]], "kept open for the next sweep");
    assert.ok((await storeUploads(janitor.baseUrl)).includes(failing.uploadId));
    stack.gate.reset();
    await sweep();
    assert.deepEqual(await rows(janitor.baseUrl), [], "aborted by the next sweep, its row removed");
    assert.ok(!(await storeUploads(janitor.baseUrl)).includes(failing.uploadId));
  } finally {
    stack.gate.reset();
    janitor.process.kill("SIGTERM");
  }
});

test("the janitor's orphan step follows a listing of in-progress uploads past its first page (a page the store signs and answers)", { timeout: 60_000 }, async () => {
  const args = ["--upload-expiry", "2", "--keep-finished", "3600", "--janitor-every", "3600"];
  const janitor = await stack.startServer({ name: "janitor-pages", args });
  const sweep = () => call(janitor.baseUrl, "POST", "/api/debug/janitor");
  try {
    await sweep(); // after the one at start: the next listing is this test's
    // The store has more than a page of uploads in progress (1000, in
    // Garage and S3): the first page says so; the second is the store's own.
    // Before, the second page's query was signed out of order, and the
    // store refused it (403): no orphan was ever collected again.
    const firstPage = stack.gate.injectRequest(
      { method: "GET", query: "uploads" },
      {
        status: 200,
        body:
          '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>b</Bucket>' +
          "<Prefix>uploads/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>" +
          `<NextKeyMarker>uploads/zzz</NextKeyMarker><NextUploadIdMarker>${"0".repeat(64)}</NextUploadIdMarker>` +
          "</ListMultipartUploadsResult>",
      },
    );
    const secondPage = stack.gate.injectRequest({ method: "GET", query: "upload-id-marker" }, { holdAnswer: Promise.resolve() });
    const swept = await sweep();
    assert.equal(await storeAnswer(firstPage), 200);
    assert.equal(await storeAnswer(secondPage), 200, "the store took the second page's signature");
    assert.equal(swept.status, 200, swept.text);
  } finally {
    stack.gate.reset();
    janitor.process.kill("SIGTERM");
  }
});

test("an expired upload the store completed behind a lost answer is marked completed by the janitor: a complete sent again is answered", { timeout: 60_000 }, async () => {
  const args = ["--upload-expiry", "3", "--keep-finished", "3600", "--janitor-every", "3600"];
  const janitor = await stack.startServer({ name: "janitor-completed", args });
  const api = routesOf(janitor.baseUrl);
  const store = storeClient(stack.storeEnv);
  try {
    const up = (await api.create({ filename: "completed behind.bin", namespace: "rui" })).json;
    const signed = await api.sign(up, 1);
    assert.equal(signed.status, 200, signed.text);
    const etag = await putPart(signed.json.url, randomBytes(1024));
    // The store completes, and the server never marks the row (a crash
    // between the two, or a complete that outlived its client).
    await store.send(
      new CompleteMultipartUploadCommand({
        Bucket: stack.storeEnv.S3_BUCKET,
        Key: up.key,
        UploadId: up.uploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: etag }] },
      }),
    );
    await sleep(3_500);
    const swept = await call(janitor.baseUrl, "POST", "/api/debug/janitor");
    assert.equal(swept.status, 200, swept.text);
    assert.deepEqual((await rows(janitor.baseUrl)).map((r) => [r.uploadId, r.state]), [[up.uploadId, "completed"]], "marked completed, not removed");
    const again = await api.complete(up, [{ PartNumber: 1, ETag: etag }]);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.key ?? up.key, up.key);
  } finally {
    store.destroy();
    janitor.process.kill("SIGTERM");
  }
});

test("the debug routes answer CORS requests of pages of this machine only", { timeout: 30_000 }, async () => {
  const local = await call(stack.baseUrl, "GET", "/api/debug/rows", { headers: { origin: "http://127.0.0.1:9" } });
  assert.equal(local.status, 200, local.text);
  assert.equal(local.headers.get("access-control-allow-origin"), "http://127.0.0.1:9");
  const foreign = await call(stack.baseUrl, "GET", "/api/debug/rows", { headers: { origin: "https://example.com" } });
  assert.equal(foreign.headers.get("access-control-allow-origin"), null, "a page of another site cannot read the table");
});

test("metadata over S3's 2 KB is refused with 400 MetadataTooLarge, at create and for a small file's PUT, before the store is asked", { timeout: 30_000 }, async () => {
  const api = routesOf(stack.baseUrl);
  const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`m${i}`, "x".repeat(8)]));
  for (const metadata of [many, { note: "n".repeat(2100) }]) {
    const created = await api.create({ filename: "meta.bin", namespace: "sam", metadata });
    assert.equal(created.status, 400, created.text);
    assert.equal(created.json.error.code, "MetadataTooLarge", created.text);
    const batch = await call(stack.baseUrl, "POST", "/api/s3/params/batch", { body: { files: [{ filename: "small.bin", size: 3, metadata }] } });
    assert.equal(batch.status, 400, batch.text);
    assert.equal(batch.json.error.code, "MetadataTooLarge", batch.text);
  }
  const fits = await api.create({ filename: "meta.bin", namespace: "sam", metadata: { note: "n".repeat(2000) } });
  assert.equal(fits.status, 200, fits.text);
  assert.equal((await api.abort(fits.json)).status, 200);
});
