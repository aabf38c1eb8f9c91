// The SHA-256 checksum extension of the dev server's Companion routes
// (server/PROTOCOL.md), against a real Garage: checksums asked for at
// create are signed into part URLs, checked by the store on every part PUT,
// listed, checked again at complete, and the object's composite checksum
// comes back. A client that sends none of the new fields (Companion's)
// sees none of them. Everything but the last test talks HTTP from Node.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";

import { MIB } from "./harness.mjs";
import { callServer, useStack } from "./steps.mjs";

const stack = useStack("checksum-server");

const CHECKSUM_HEADER = "x-amz-checksum-sha256";

const sha256 = (bytes) => createHash("sha256").update(bytes).digest();
const b64 = (bytes) => Buffer.from(bytes).toString("base64");

/** S3's composite checksum of parts with these raw digests. */
const composite = (digests) => `${b64(sha256(Buffer.concat(digests)))}-${digests.length}`;

/** `method route` with `body` sent as JSON. */
const call = (method, route, body) => callServer(stack, method, route, body === undefined ? undefined : JSON.stringify(body));

async function ok(method, route, body) {
  const r = await call(method, route, body);
  assert.equal(r.status, 200, `${method} ${route}: ${r.text}`);
  return r.json;
}

function expectError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
}

/** PUTs `body` to a part URL: { status, etag, checksum, text }. */
async function put(url, body, headers = {}) {
  const response = await fetch(url, { method: "PUT", body, headers });
  return {
    status: response.status,
    etag: response.headers.get("etag"),
    checksum: response.headers.get(CHECKSUM_HEADER),
    text: await response.text(),
  };
}

const signedHeaders = (url) => new URL(url).searchParams.get("X-Amz-SignedHeaders");
const query = (up) => `key=${encodeURIComponent(up.key)}`;

test("a Companion client sends no checksum fields and gets none back", { timeout: 60_000 }, async () => {
  const up = await ok("POST", "/api/s3/multipart", { filename: "plain.bin", type: "", metadata: {} });
  assert.deepEqual(Object.keys(up).sort(), ["bucket", "key", "uploadId"]);
  const q = query(up);
  const bytes = [randomBytes(5 * MIB), randomBytes(MIB + 7)];

  const one = await ok("GET", `/api/s3/multipart/${up.uploadId}/1?${q}`);
  assert.deepEqual(Object.keys(one).sort(), ["expires", "url"]);
  assert.equal(signedHeaders(one.url), "host");
  const batch = await ok("GET", `/api/s3/multipart/${up.uploadId}/batch?${q}&partNumbers=1,2`);
  assert.deepEqual(Object.keys(batch), ["presignedUrls"]);
  assert.equal(signedHeaders(batch.presignedUrls["2"]), "host");

  const etags = [];
  for (const [i, url] of [one.url, batch.presignedUrls["2"]].entries()) {
    const r = await put(url, bytes[i]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.checksum, null);
    etags.push(r.etag);
  }
  const listed = await ok("GET", `/api/s3/multipart/${up.uploadId}?${q}`);
  assert.deepEqual(
    listed.map((p) => Object.keys(p).sort()),
    [
      ["ETag", "PartNumber", "Size"],
      ["ETag", "PartNumber", "Size"],
    ],
  );
  const done = await ok("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, {
    parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })),
  });
  assert.deepEqual(Object.keys(done).sort(), ["bucket", "key", "location"]);
  const stored = await stack.debug.object(up.key);
  assert.equal(stored.sha256, sha256(Buffer.concat(bytes)).toString("hex"));
});

test("with checksumAlgorithm SHA256 the store checks every part and the object gets a composite checksum", { timeout: 120_000 }, async () => {
  const gate = stack.gate;
  const up = await ok("POST", "/api/s3/multipart", { filename: "summed.bin", type: "", metadata: {}, checksumAlgorithm: "SHA256" });
  assert.equal(up.checksumAlgorithm, "SHA256");
  const q = query(up);
  const bytes = [randomBytes(5 * MIB), randomBytes(5 * MIB), randomBytes(MIB + 3)];
  const digests = bytes.map(sha256);
  const sums = digests.map(b64);

  // One part: the URL signs the checksum, the answer says which header to send.
  const one = await ok("GET", `/api/s3/multipart/${up.uploadId}/1?${q}&checksumSha256=${encodeURIComponent(sums[0])}`);
  assert.deepEqual(one.headers, { [CHECKSUM_HEADER]: sums[0] });
  assert.equal(signedHeaders(one.url), `host;${CHECKSUM_HEADER}`);

  // Garage refuses the PUT without the signed header, with another value
  // than the signed one, and without any checksum on such an upload. The
  // first two are refused before the body is read, and Garage then closes
  // the connection: with a body of megabytes the sender may see the
  // connection reset instead of the answer, so these send a small one.
  const small = randomBytes(100);
  let r = await put(one.url, small);
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /signed header `x-amz-checksum-sha256` is not present/);
  r = await put(one.url, small, { [CHECKSUM_HEADER]: sums[1] });
  assert.equal(r.status, 403, r.text);
  const unsigned = await ok("GET", `/api/s3/multipart/${up.uploadId}/1?${q}`);
  r = await put(unsigned.url, bytes[0]);
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /Requested checksum verification without providing checksum/);

  // The right bytes with their checksum: stored, and the store echoes it.
  r = await put(one.url, bytes[0], one.headers);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.checksum, sums[0]);
  const etags = [r.etag];

  // A batch: checksums aligned with the part numbers.
  const batch = await ok(
    "GET",
    `/api/s3/multipart/${up.uploadId}/batch?${q}&partNumbers=2,3&checksumsSha256=${encodeURIComponent(`${sums[1]},${sums[2]}`)}`,
  );
  assert.deepEqual(batch.headers, { 2: { [CHECKSUM_HEADER]: sums[1] }, 3: { [CHECKSUM_HEADER]: sums[2] } });
  for (const n of ["2", "3"]) assert.equal(signedHeaders(batch.presignedUrls[n]), `host;${CHECKSUM_HEADER}`);

  // Bytes that are not the ones signed for: 400 InvalidDigest, nothing stored.
  r = await put(batch.presignedUrls["2"], bytes[2], batch.headers["2"]);
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /<Code>InvalidDigest<\/Code>/);

  // One byte flipped on the way (the gate), Content-Length unchanged.
  const mark = gate.mark();
  gate.inject(2, { corrupt: true });
  r = await put(batch.presignedUrls["2"], bytes[1], batch.headers["2"]);
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /<Code>InvalidDigest<\/Code>/);
  const [corrupted] = gate.since(mark);
  assert.equal(corrupted.fault, "corrupt");
  assert.equal(corrupted.corruptAt, Math.floor(bytes[1].length / 2));
  assert.equal(corrupted.status, 400);
  assert.equal(corrupted.state, "failed");
  assert.deepEqual(
    (await ok("GET", `/api/s3/multipart/${up.uploadId}?${q}`)).map((p) => p.PartNumber),
    [1],
    "a refused part is not stored",
  );

  // Sent again untouched, parts 2 and 3 go in.
  for (const n of [2, 3]) {
    r = await put(batch.presignedUrls[String(n)], bytes[n - 1], batch.headers[String(n)]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.checksum, sums[n - 1]);
    etags.push(r.etag);
  }

  const listed = await ok("GET", `/api/s3/multipart/${up.uploadId}?${q}`);
  assert.deepEqual(
    listed.map((p) => [p.PartNumber, p.Size, p.ETag, p.ChecksumSHA256]),
    bytes.map((b, i) => [i + 1, b.length, etags[i], sums[i]]),
  );

  // Complete: a ChecksumSHA256 that is not the part's is refused by the store...
  const parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag, ChecksumSHA256: sums[i] }));
  const wrong = parts.map((p, i) => (i === 1 ? { ...p, ChecksumSHA256: sums[0] } : p));
  expectError(await call("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts: wrong }), 400, "InvalidDigest");
  // ...and leaves the upload as it was; the right ones complete it.
  const done = await ok("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts });
  assert.equal(done.checksumSha256, composite(digests));
  assert.equal(done.checksumType, "COMPOSITE");
  assert.equal(done.key, up.key);
  const stored = await stack.debug.object(up.key);
  assert.equal(stored.size, bytes.reduce((n, b) => n + b.length, 0));
  assert.equal(stored.sha256, sha256(Buffer.concat(bytes)).toString("hex"));
});

test("a refused re-PUT of a stored part is still listed, but complete wants the part again", { timeout: 60_000 }, async () => {
  const up = await ok("POST", "/api/s3/multipart", { filename: "again.bin", type: "", metadata: {}, checksumAlgorithm: "SHA256" });
  const q = query(up);
  const bytes = randomBytes(2 * MIB);
  const sum = b64(sha256(bytes));
  const signed = await ok("GET", `/api/s3/multipart/${up.uploadId}/1?${q}&checksumSha256=${encodeURIComponent(sum)}`);
  const first = await put(signed.url, bytes, signed.headers);
  assert.equal(first.status, 200, first.text);
  const part = { PartNumber: 1, ETag: first.etag, ChecksumSHA256: sum };

  stack.gate.inject(1, { corrupt: 0 });
  const refused = await put(signed.url, bytes, signed.headers);
  assert.equal(refused.status, 400, refused.text);
  assert.match(refused.text, /<Code>InvalidDigest<\/Code>/);
  assert.equal(stack.gate.putsOf(1).at(-1).corruptAt, 0);
  // Garage lists the part as before...
  const [listed] = await ok("GET", `/api/s3/multipart/${up.uploadId}?${q}`);
  assert.equal(listed.ETag, first.etag);
  assert.equal(listed.ChecksumSHA256, sum);
  // ...yet refuses to complete with it until it is sent again in full.
  expectError(await call("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts: [part] }), 400, "InvalidPart");
  const again = await put(signed.url, bytes, signed.headers);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.etag, first.etag);
  const done = await ok("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts: [part] });
  assert.equal(done.checksumSha256, composite([sha256(bytes)]));
});

test("checksums in a complete request are optional, part by part", { timeout: 60_000 }, async () => {
  const up = await ok("POST", "/api/s3/multipart", { filename: "half.bin", type: "", metadata: {}, checksumAlgorithm: "SHA256" });
  const q = query(up);
  const bytes = [randomBytes(5 * MIB), randomBytes(100)];
  const digests = bytes.map(sha256);
  const parts = [];
  for (const [i, b] of bytes.entries()) {
    const signed = await ok("GET", `/api/s3/multipart/${up.uploadId}/${i + 1}?${q}&checksumSha256=${encodeURIComponent(b64(digests[i]))}`);
    const r = await put(signed.url, b, signed.headers);
    assert.equal(r.status, 200, r.text);
    parts.push({ PartNumber: i + 1, ETag: r.etag, ...(i === 0 ? { ChecksumSHA256: b64(digests[i]) } : {}) });
  }
  const done = await ok("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts });
  // The store knows every part's digest: the object's checksum needs none sent.
  assert.equal(done.checksumSha256, composite(digests));
});

test("a plain upload's parts may be checked too, but have no checksum to complete with", { timeout: 60_000 }, async () => {
  const up = await ok("POST", "/api/s3/multipart", { filename: "plain-checked.bin", type: "", metadata: {} });
  const q = query(up);
  const bytes = randomBytes(1000);
  const sum = b64(sha256(bytes));
  const signed = await ok("GET", `/api/s3/multipart/${up.uploadId}/1?${q}&checksumSha256=${encodeURIComponent(sum)}`);
  let r = await put(signed.url, randomBytes(1000), signed.headers);
  assert.equal(r.status, 400, "the store checks the digest anyway");
  r = await put(signed.url, bytes, signed.headers);
  assert.equal(r.status, 200, r.text);
  const [listed] = await ok("GET", `/api/s3/multipart/${up.uploadId}?${q}`);
  assert.equal(listed.ChecksumSHA256, undefined, "but it keeps no checksum for the part");
  expectError(
    await call("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts: [{ PartNumber: 1, ETag: r.etag, ChecksumSHA256: sum }] }),
    400,
    "InvalidDigest",
  );
  const done = await ok("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts: [{ PartNumber: 1, ETag: r.etag }] });
  assert.equal(done.checksumSha256, undefined);
});

test("bad checksum fields get 400 before anything is signed", { timeout: 60_000 }, async () => {
  for (const checksumAlgorithm of ["sha256", "CRC32", "", 256, true, ["SHA256"]]) {
    expectError(
      await call("POST", "/api/s3/multipart", { filename: "x.bin", type: "", metadata: {}, checksumAlgorithm }),
      400,
      "InvalidChecksumAlgorithm",
    );
  }
  const plain = await ok("POST", "/api/s3/multipart", { filename: "x.bin", type: "", metadata: {}, checksumAlgorithm: null });
  assert.equal(plain.checksumAlgorithm, undefined);

  const up = await ok("POST", "/api/s3/multipart", { filename: "y.bin", type: "", metadata: {}, checksumAlgorithm: "SHA256" });
  const q = query(up);
  const sum = b64(sha256(Buffer.from("y")));
  const hexSum = sha256(Buffer.from("y")).toString("hex");
  for (const bad of ["", "nope", hexSum, sum.replace(/=$/, ""), b64(randomBytes(31)), b64(randomBytes(33))]) {
    expectError(
      await call("GET", `/api/s3/multipart/${up.uploadId}/1?${q}&checksumSha256=${encodeURIComponent(bad)}`),
      400,
      "InvalidChecksum",
    );
  }
  // A `+` left unencoded arrives as a space: refused, with a hint.
  const withPlus = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
  const r = await call("GET", `/api/s3/multipart/${up.uploadId}/1?${q}&checksumSha256=${withPlus}`);
  expectError(r, 400, "InvalidChecksum");
  assert.match(r.json.error.message, /%2B/);
  for (const list of [sum, `${sum},${sum},${sum}`, `${sum},`, `${sum},nope`]) {
    expectError(
      await call("GET", `/api/s3/multipart/${up.uploadId}/batch?${q}&partNumbers=1,2&checksumsSha256=${encodeURIComponent(list)}`),
      400,
      "InvalidChecksum",
    );
  }
  expectError(
    await call("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, { parts: [{ PartNumber: 1, ETag: '"a"', ChecksumSHA256: hexSum }] }),
    400,
    "InvalidChecksum",
  );
  // Nothing reached the store: the upload has no part.
  assert.deepEqual(await ok("GET", `/api/s3/multipart/${up.uploadId}?${q}`), []);
  for (const u of [plain, up]) await ok("DELETE", `/api/s3/multipart/${u.uploadId}?${query(u)}`);
});

test("a browser page may send x-amz-checksum-sha256 to the store and read the answers", { timeout: 90_000 }, async () => {
  const up = await ok("POST", "/api/s3/multipart", { filename: "browser.bin", type: "", metadata: {}, checksumAlgorithm: "SHA256" });
  const q = query(up);
  const bytes = randomBytes(64 * 1024);
  const sum = b64(sha256(bytes));
  const signed = await ok("GET", `/api/s3/multipart/${up.uploadId}/1?${q}&checksumSha256=${encodeURIComponent(sum)}`);

  // The preflight a browser sends before such a PUT, by hand.
  const preflight = await fetch(signed.url, {
    method: "OPTIONS",
    headers: {
      origin: stack.baseUrl,
      "access-control-request-method": "PUT",
      "access-control-request-headers": CHECKSUM_HEADER,
    },
  });
  assert.equal(preflight.status, 200, await preflight.text());
  assert.equal(preflight.headers.get("access-control-allow-origin"), stack.baseUrl);
  assert.match(preflight.headers.get("access-control-expose-headers"), /x-amz-checksum-sha256/i);

  // And a real one: a page of the dev server's origin PUTs the part. Any
  // file the server serves will do (a page Playwright made up would not
  // count as loopback, and Chromium would refuse it the loopback store).
  // A tab of its own; where the driver cannot open one (WPE), the stack's.
  const own = await stack.browser.newTab();
  const tab = own ?? stack.tab;
  try {
    await tab.goto(new URL("/style.css", stack.baseUrl).href);
    const putFromPage = () =>
      tab.evaluate(
        async ({ url, headers, data }) => {
          const body = new Blob([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))]);
          try {
            const response = await fetch(url, { method: "PUT", body, headers });
            return {
              status: response.status,
              etag: response.headers.get("etag"),
              checksum: response.headers.get("x-amz-checksum-sha256"),
              text: await response.text(),
            };
          } catch (error) {
            return { error: String(error) };
          }
        },
        { url: signed.url, headers: signed.headers, data: bytes.toString("base64") },
      );

    // A byte flipped on the way: the page reads the store's 400 (Garage
    // allows any origin on error answers), not an opaque network error.
    stack.gate.inject(1, { corrupt: 100 });
    const refused = await putFromPage();
    assert.equal(refused.status, 400, JSON.stringify(refused));
    assert.match(refused.text, /InvalidDigest/);
    assert.equal(stack.gate.putsOf(1).at(-1).corruptAt, 100);

    const stored = await putFromPage();
    assert.equal(stored.status, 200, JSON.stringify(stored));
    assert.equal(stored.checksum, sum, "the page can read the echoed checksum");
    assert.match(stored.etag, /^"[0-9a-f]{32}"$/);

    const done = await ok("POST", `/api/s3/multipart/${up.uploadId}/complete?${q}`, {
      parts: [{ PartNumber: 1, ETag: stored.etag, ChecksumSHA256: sum }],
    });
    assert.equal(done.checksumSha256, composite([sha256(bytes)]));
  } finally {
    await own?.close();
  }
});
