// Who is asking: the owner comes from a verified bearer JWT (HS256 or RS256)
// or the demo's signed cookie, never from the client; a missing, expired or
// forged credential gets 401, another owner's upload or key 403, and in
// every refused case nothing is signed and nothing is written (the table
// and the store are unchanged). Plain HTTP against dev servers + Garage;
// one test drives the library's `headers` function in the browser.

import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";

import { call, epoch, hs256Jwt, randomSample, routesOf, rows, rs256Jwt, storeUploads } from "./backend-client.mjs";
import { waitReady } from "./demo.mjs";
import { MIB, startStack } from "./harness.mjs";
import { installHelpers } from "./in-page.mjs";

let stack;
let jwtBase;
let rsBase;
let demoBase;
const SECRET = randomBytes(32).toString("hex");
const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ISSUER = "https://id.example.test";

before(async () => {
  stack = await startStack({ label: "auth" });
  jwtBase = (await stack.startServer({ name: "jwt", env: { AUTH_JWT_HS256_SECRET: SECRET } })).baseUrl;
  const pemFile = path.join(stack.tmpDir, "rs256-public.pem");
  await fsp.writeFile(pemFile, publicKey.export({ type: "spki", format: "pem" }));
  const rsEnv = { AUTH_JWT_RS256_PUBLIC_KEY_FILE: pemFile, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: "resupload" };
  rsBase = (await stack.startServer({ name: "rs256", env: rsEnv })).baseUrl;
  demoBase = (await stack.startServer({ name: "demo", args: ["--demo-auth"] })).baseUrl;
});
after(async () => {
  await stack?.stop();
});

const bearer = (token) => ({ authorization: `Bearer ${token}` });
const tokenOf = (sub, extra = {}) => hs256Jwt({ sub, exp: epoch(300), ...extra }, SECRET);

/** Every route, called with `headers`, on the upload `up` (and its identity `id`). */
function everyRoute(base, headers, up, id) {
  const api = routesOf(base, headers);
  return {
    create: () => api.create({ filename: "x.bin", namespace: "alice", size: 1, sampleSha256: randomSample() }),
    sign: () => api.sign(up, 1),
    batch: () => api.batch(up, [1, 2]),
    list: () => api.list(up),
    complete: () => api.complete(up, []),
    abort: () => api.abort(up),
    lookup: () => api.lookup(id),
  };
}

/** What the table and the store hold now. */
async function snapshot(base) {
  return { rows: await rows(base), store: await storeUploads(base) };
}

test("JWT: the owner is the token's sub, whatever namespace the client sends", { timeout: 60_000 }, async () => {
  const alice = routesOf(jwtBase, bearer(tokenOf("alice")));
  const id = { name: "a.bin", size: 7 * MIB, sample: randomSample() };
  const up = (await alice.create({ filename: id.name, namespace: "bob", size: id.size, sampleSha256: id.sample })).json;
  assert.match(up.key, /^uploads\/alice\/[0-9a-f]{32}\/a\.bin$/);
  assert.equal((await rows(jwtBase)).find((r) => r.uploadId === up.uploadId).owner, "alice");
  assert.equal((await alice.lookup({ ...id, namespace: "bob" })).json.uploadId, up.uploadId, "namespace is ignored with auth on");
  const bob = routesOf(jwtBase, bearer(tokenOf("bob")));
  assert.equal((await bob.lookup({ ...id, namespace: "alice" })).text, "null", "lookups never cross owners");
  assert.equal((await alice.abort(up)).status, 200);
});

test("JWT: a create with adopt answers the token owner's upload only, whatever namespace is sent", { timeout: 60_000 }, async () => {
  const alice = routesOf(jwtBase, bearer(tokenOf("alice")));
  const bob = routesOf(jwtBase, bearer(tokenOf("bob")));
  const body = { filename: "shared name.bin", size: 7 * MIB, sampleSha256: randomSample(), partSize: 5 * MIB, checksumAlgorithm: "SHA256", adopt: true };
  const hers = (await alice.create({ ...body, namespace: "bob" })).json;
  assert.equal(hers.adopted, undefined, "nothing to adopt yet");
  const his = await bob.create({ ...body, namespace: "alice" });
  assert.equal(his.status, 200, his.text);
  assert.equal(his.json.adopted, undefined, "bob never gets alice's upload");
  assert.notEqual(his.json.uploadId, hers.uploadId);
  assert.match(his.json.key, /^uploads\/bob\//);
  const again = (await alice.create({ ...body, namespace: "bob" })).json;
  assert.equal(again.uploadId, hers.uploadId, "alice's own, not bob's newer one");
  assert.equal(again.adopted, true);
  assert.equal((await bob.abort(hers)).status, 403, "and bob may not touch it");
  assert.equal((await alice.abort(hers)).status, 200);
  assert.equal((await bob.abort(his.json)).status, 200);
});

test("JWT: no token, an expired token, a forged signature, another user's token: 401 or 403, nothing signed or written", { timeout: 120_000 }, async () => {
  const alice = routesOf(jwtBase, bearer(tokenOf("alice")));
  const id = { name: "mine.bin", size: 6 * MIB, sample: randomSample() };
  const up = (await alice.create({ filename: id.name, size: id.size, sampleSha256: id.sample })).json;
  const before = await snapshot(jwtBase);
  const refusals = [
    ["no token", {}, 401, "MissingToken"],
    ["not a bearer", { authorization: "Basic YWxpY2U6eA==" }, 401, "MissingToken"],
    ["expired", bearer(hs256Jwt({ sub: "alice", exp: epoch(-3600) }, SECRET)), 401, "ExpiredToken"],
    ["forged", bearer(hs256Jwt({ sub: "alice", exp: epoch(300) }, randomBytes(32).toString("hex"))), 401, "InvalidToken"],
    ["unsigned", bearer(`${tokenOf("alice").split(".").slice(0, 2).join(".")}.`), 401, "InvalidToken"],
    ["without exp", bearer(hs256Jwt({ sub: "alice" }, SECRET)), 401, "InvalidToken"],
  ];
  for (const [what, headers, status, code] of refusals) {
    for (const [route, send] of Object.entries(everyRoute(jwtBase, headers, up, id))) {
      const r = await send();
      assert.equal(r.status, status, `${what} ${route}: ${r.text}`);
      assert.equal(r.json?.error?.code, code, `${what} ${route}`);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/, `${what} ${route}`);
      assert.ok(!/https?:\/\/[^"]*X-Amz-Signature/.test(r.text), `${what} ${route}: nothing signed`);
    }
  }
  const bob = everyRoute(jwtBase, bearer(tokenOf("bob")), up, id);
  for (const route of ["sign", "batch", "list", "complete", "abort"]) {
    const r = await bob[route]();
    assert.equal(r.status, 403, `bob ${route}: ${r.text}`);
    assert.equal(r.json.error.code, "AccessDenied");
    assert.ok(!r.text.includes("X-Amz-Signature"), `bob ${route}: nothing signed`);
  }
  assert.equal((await bob.lookup()).text, "null", "bob does not see alice's upload");
  assert.deepEqual(await snapshot(jwtBase), before, "the table and the store are unchanged");
  assert.deepEqual((await alice.list(up)).json, [], "no part was stored");
  assert.equal((await alice.sign(up, 1)).status, 200, "alice's upload is still hers and open");
  await alice.abort(up);
});

test("JWT: the API's CORS preflight allows the Authorization header", { timeout: 30_000 }, async () => {
  const r = await call(jwtBase, "OPTIONS", "/api/s3/multipart", {
    headers: { origin: "http://app.example.test", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
  });
  assert.ok(r.status < 300, `preflight answered ${r.status}`);
  assert.match(r.headers.get("access-control-allow-headers") ?? "", /authorization/i);
});

test("RS256: the public key verifies, with issuer and audience; HS256 with the public key is refused", { timeout: 60_000 }, async () => {
  const claims = { sub: "carol", exp: epoch(300), iss: ISSUER, aud: "resupload" };
  const carol = routesOf(rsBase, bearer(rs256Jwt(claims, privateKey)));
  const created = await carol.create({ filename: "rs.bin" });
  assert.equal(created.status, 200, created.text);
  assert.match(created.json.key, /^uploads\/carol\//);
  const before = await snapshot(rsBase);
  const pem = publicKey.export({ type: "spki", format: "pem" });
  for (const [what, token] of [
    ["HS256 signed with the public key", hs256Jwt(claims, pem)],
    ["another audience", rs256Jwt({ ...claims, aud: "other" }, privateKey)],
    ["another issuer", rs256Jwt({ ...claims, iss: "https://evil.test" }, privateKey)],
    ["another key", rs256Jwt(claims, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey)],
  ]) {
    const r = await routesOf(rsBase, bearer(token)).sign(created.json, 1);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.equal(r.json.error.code, "InvalidToken", what);
  }
  assert.deepEqual(await snapshot(rsBase), before);
  await carol.abort(created.json);
});

/** A browser's cookie jar for the demo cookie. */
function jar() {
  let cookie = null;
  const take = (headers) => {
    for (const line of headers.getSetCookie()) {
      const m = /^resupload_demo=([^;]*)/.exec(line);
      if (m) cookie = m[1];
    }
  };
  return {
    get cookie() {
      return cookie;
    },
    set cookie(value) {
      cookie = value;
    },
    headers: () => (cookie ? { cookie: `resupload_demo=${cookie}` } : {}),
    async call(method, route, options = {}) {
      const r = await call(demoBase, method, route, { ...options, headers: { ...this.headers(), ...options.headers } });
      take(r.headers);
      return r;
    },
    api() {
      return routesOf(demoBase, this.headers());
    },
  };
}

test("demo: an anonymous identity per browser, and sign-in by name resumes on another device", { timeout: 60_000 }, async () => {
  const laptop = jar();
  const page = await laptop.call("GET", "/");
  assert.equal(page.status, 200);
  assert.ok(laptop.cookie, "the first request gets a cookie");
  const line = page.headers.getSetCookie().find((l) => l.startsWith("resupload_demo="));
  assert.match(line, /HttpOnly/);
  assert.match(line, /SameSite=Lax/);
  const anon = (await laptop.call("GET", "/api/demo/whoami")).json;
  assert.match(anon.owner, /^anon:[0-9a-f]{32}$/);
  const id = { name: "film.mov", size: 9 * MIB, sample: randomSample() };
  const body = { filename: id.name, size: id.size, sampleSha256: id.sample, partSize: 5 * MIB };
  const mine = (await laptop.api().create(body)).json;
  assert.match(mine.key, /^uploads\/anon_[0-9a-f]{32}\//);

  const phone = jar();
  const before = await snapshot(demoBase);
  assert.equal((await phone.call("GET", "/api/demo/whoami")).status, 200);
  assert.notEqual((await phone.call("GET", "/api/demo/whoami")).json.owner, anon.owner, "another browser, another identity");
  assert.equal((await phone.api().sign(mine, 1)).status, 403);
  assert.equal((await phone.api().lookup(id)).text, "null");
  const tampered = jar();
  tampered.cookie = laptop.cookie.replace(/^v1:([0-9a-f]{32}):/, "v1:$1:alice:").replace(/:[^:]*$/, ":AAAA");
  assert.equal((await tampered.call("GET", `/api/s3/multipart/${mine.uploadId}/1?key=${encodeURIComponent(mine.key)}`)).status, 403);
  assert.ok(!tampered.cookie.includes("alice"), "a cookie that does not verify is replaced by a new identity");
  assert.deepEqual(await snapshot(demoBase), before, "nothing written by the refused calls");

  for (const device of [laptop, phone]) {
    const r = await device.call("POST", "/api/demo/sign-in", { body: { user: "Alice" } });
    assert.deepEqual(r.json, { owner: "user:alice", user: "alice" });
  }
  const shared = (await laptop.api().create(body)).json;
  assert.match(shared.key, /^uploads\/user_alice\//);
  const found = await phone.api().lookup(id);
  assert.equal(found.status, 200, found.text);
  assert.equal(found.json.uploadId, shared.uploadId);
  assert.equal(found.json.partSize, 5 * MIB);
  assert.equal((await phone.api().sign(shared, 1)).status, 200);
  assert.equal((await phone.call("POST", "/api/demo/sign-in", { body: { user: "no spaces" } })).status, 400);
  const out = await phone.call("POST", "/api/demo/sign-out");
  assert.match(out.json.owner, /^anon:/);
  assert.equal((await phone.api().lookup(id)).text, "null", "signed out: alice's uploads are not offered");
  assert.equal((await laptop.api().abort(shared)).status, 200);
  await laptop.call("POST", "/api/demo/sign-out");
  assert.equal((await laptop.api().abort(mine)).status, 200, "back to the laptop's anonymous identity");
});

test("a headers function giving a Headers, a Map, or headers fetch refuses fails with HEADERS_FAILED; a plain object signs in", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await tab.goto(new URL("/", jwtBase).href);
  await waitReady(tab);
  await installHelpers(tab);
  const outcomes = await tab.evaluate(async (authorization) => {
    const { Upload } = await window.e2e.lib();
    const gives = {
      // Object.assign finds no fields in these: the requests would go without credentials.
      headersObject: () => new Headers({ authorization }),
      map: async () => new Map([["authorization", authorization]]),
      // fetch throws on these: retried as NETWORK errors until the retries ran out.
      nameNotToken: () => ({ authorization, "x y": "1" }),
      lineBreak: () => ({ authorization: `${authorization}\r\nx-evil: 1` }),
      aboveLatin1: () => ({ authorization, "x-note": "\u20ac" }),
      plain: () => ({ authorization }),
    };
    const outcomes = {};
    for (const [what, headers] of Object.entries(gives)) {
      const file = new File([new Uint8Array(7)], `${what}.bin`);
      const upload = new Upload(file, { endpoint: "/api/s3", headers, retryDelays: [0] });
      outcomes[what] = await upload.start().then((r) => ({ key: r.key }), (e) => ({ code: e.code, message: e.message }));
    }
    return outcomes;
  }, `Bearer ${tokenOf("alice")}`);
  const { plain, ...refused } = outcomes;
  const codes = Object.fromEntries(Object.entries(refused).map(([what, outcome]) => [what, outcome.code]));
  const expected = Object.fromEntries(Object.keys(refused).map((what) => [what, "HEADERS_FAILED"]));
  assert.deepEqual(codes, expected, JSON.stringify(refused));
  assert.match(refused.headersObject.message, /plain object/);
  assert.match(refused.nameNotToken.message, /"x y" is not an HTTP header name/);
  assert.match(plain.key ?? "", /^uploads\/alice\//, JSON.stringify(plain));
});
