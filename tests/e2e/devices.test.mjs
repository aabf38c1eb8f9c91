// Resume on another device. Two browsers with separate profiles (no shared
// IndexedDB) stand for a laptop and a phone, each on its own dev server:
// the laptop is the engine under test (E2E_BROWSER), the phone Chromium, so
// that in the other engines' runs the upload moves from one engine to
// another; both servers share one PostgreSQL and one Garage, and take the
// owner from a bearer JWT (the `headers` option). The phone has no record
// of the upload: its create is answered with it (adopt at create), every
// part the server holds is verified against its SHA-256, and only the
// missing parts are sent.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { after, afterEach, before } from "node:test";

import { epoch, hs256Jwt, storeUploads } from "./backend-client.mjs";
import { launchBrowser } from "./browsers.mjs";
import { waitReady } from "./demo.mjs";
import { OtherEngineFailure, retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, startStack, waitUntil } from "./harness.mjs";
import { contentBytes, installHelpers, pause, startUpload, waitOutcome, waitStored } from "./in-page.mjs";
import { startPostgres } from "./postgres.mjs";

const PART = 5 * MIB;
const SIZE = 4 * PART + 33; // 5 parts
const SECRET = randomBytes(32).toString("hex");
const LAPTOP_DATE = 1_700_000_000_000;
const PHONE_DATE = 1_760_000_000_000; // the same file, copied: another date

let stack;
let pg;
let phoneBrowser;
const base = {};
const tab = {};
// WPE 2.38's known fault (tests/e2e/README.md), met on the laptop (the
// engine under test), gets a test its second try; each test opens its pages.
const test = retriedOnEngineFault(() => ({ stack, tab: tab.laptop }));

before(async () => {
  stack = await startStack({ label: "devices" });
  pg = await startPostgres({ notePid: stack.notePid });
  const env = { DATABASE_URL: await pg.createDatabase("devices"), AUTH_JWT_HS256_SECRET: SECRET };
  base.laptop = (await stack.startServer({ name: "laptop", env })).baseUrl;
  base.phone = (await stack.startServer({ name: "phone", env })).baseUrl;
  tab.laptop = stack.tab;
  const profileDir = path.join(stack.tmpDir, "profile-phone");
  phoneBrowser = await launchBrowser("chromium", { profileDir, notePid: stack.notePid });
  tab.phone = phoneBrowser.tabs[0];
});
after(async () => {
  await phoneBrowser?.close();
  await pg?.stop();
  await stack?.stop();
});
afterEach(() => {
  stack.gate.release();
});

const tokenOf = (sub, exp = epoch(600)) => hs256Jwt({ sub, exp }, SECRET);

/** `waiting` on the phone, which is Chromium whatever engine is under
 *  test: a failure there (a trap or hang too) is no fault of that
 *  engine's, and fails with no second try. */
function onPhone(waiting) {
  return waiting.catch((error) => {
    throw new OtherEngineFailure("on the phone (Chromium)", error);
  });
}

const phoneOutcome = (name) => onPhone(waitOutcome(tab.phone, name));

/** Opens the demo page of `device`'s server, its uploads signed as `user`. */
async function open(device, user) {
  await tab[device].goto(`${base[device]}/`);
  await waitReady(tab[device]);
  await installHelpers(tab[device]);
  await tab[device].evaluate((token) => (window.e2e.auth.token = token), tokenOf(user));
}

/** Starts `file` on the laptop (with `options` besides its own) and drops
 *  the page once `k` parts are stored (a closed lid). */
async function beginOnLaptop(file, k, options = {}) {
  await open("laptop", "alice");
  stack.gate.holdAfter(k);
  await startUpload(tab.laptop, "laptop", { file, options: { ...options, headers: "bearer", concurrency: 1 } });
  await waitStored(tab.laptop, "laptop", "", k);
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "a later part in flight" });
  await tab.laptop.reload();
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held part" });
  stack.gate.release();
}

const partsSent = (mark) =>
  stack.gate
    .since(mark)
    .filter((p) => p.state === "done")
    .map((p) => p.partNumber)
    .sort((a, b) => a - b);

test("begun on the laptop, finished on the phone: verified, only the missing parts sent, byte-identical", { timeout: 240_000 }, async () => {
  const file = { name: "film.bin", size: SIZE, seed: 61, lastModified: LAPTOP_DATE };
  await beginOnLaptop(file, 2);
  await open("phone", "alice");
  const mark = stack.gate.mark();
  const phoneFile = { ...file, lastModified: PHONE_DATE };
  const { sha256 } = await startUpload(tab.phone, "phone", { file: phoneFile, options: { headers: "bearer" }, events: ["onResume"] });
  const run = await phoneOutcome("phone");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(run.resumes.length, 1, JSON.stringify(run.resumes));
  assert.equal(run.resumes[0].source, "backend");
  assert.equal(run.resumes[0].skippedParts, 2);
  assert.deepEqual(run.restarts, []);
  assert.deepEqual(partsSent(mark), [3, 4, 5], "only the parts the server lacked");
  assert.match(run.outcome.result.key, /^uploads\/alice\//, "the owner is the token's sub");
  const object = await stack.debug.object(run.outcome.result.key);
  assert.equal(object?.sha256, sha256, "the stored object is the file, byte for byte");
  assert.equal(sha256, createHashOf(contentBytes(phoneFile)));
});

test("a name the laptop gives decomposed (a Mac's) and the phone composed is one file: only the missing parts sent", { timeout: 240_000 }, async () => {
  // The app puts the name in its metadata too, as Uppy's does. Before,
  // the server matched both byte for byte and the phone sent all 5 parts.
  const name = "Cafe\u0301 cre\u0300me.bin";
  const file = { name, size: SIZE, seed: 68, lastModified: LAPTOP_DATE };
  await beginOnLaptop(file, 2, { metadata: { name } });
  await open("phone", "alice");
  const mark = stack.gate.mark();
  const composed = name.normalize("NFC");
  assert.notEqual(composed, name);
  const phoneFile = { ...file, name: composed, lastModified: PHONE_DATE };
  await startUpload(tab.phone, "phone", { file: phoneFile, options: { headers: "bearer", metadata: { name: composed } }, events: ["onResume"] });
  const run = await phoneOutcome("phone");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.resumes.map((r) => [r.source, r.skippedParts]), [["backend", 2]], JSON.stringify(run.resumes));
  assert.deepEqual(partsSent(mark), [3, 4, 5], "only the parts the server lacked");
  assert.ok(run.outcome.result.key.endsWith(`/${composed}`), run.outcome.result.key);
});

test("begun on the laptop, finished on the phone, the laptop back to it: the phone's object, nothing sent again", { timeout: 240_000 }, async () => {
  // Before, the laptop's resume found its upload gone (completed, to the
  // server as to the store), started afresh and stored a second object.
  const file = { name: "trip.bin", size: SIZE, seed: 69, lastModified: LAPTOP_DATE };
  await beginOnLaptop(file, 2);
  await open("phone", "alice");
  await startUpload(tab.phone, "phone", { file: { ...file, lastModified: PHONE_DATE }, options: { headers: "bearer" } });
  const phone = (await phoneOutcome("phone")).outcome;
  assert.ok(phone.result, JSON.stringify(phone.error));
  await open("laptop", "alice");
  const mark = stack.gate.mark();
  const openBefore = await storeUploads(base.laptop);
  const { sha256 } = await startUpload(tab.laptop, "laptop", { file, options: { headers: "bearer" } });
  const run = await waitOutcome(tab.laptop, "laptop");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.equal(run.outcome.result.key, phone.result.key, "the phone's object");
  assert.deepEqual(run.resumes.map((r) => [r.source, r.skippedParts, r.skippedBytes]), [["local", 5, SIZE]], "told as a resume, every part skipped");
  assert.equal(run.outcome.result.uploadId, phone.result.uploadId);
  assert.deepEqual(run.restarts, [], "not started again");
  assert.deepEqual(partsSent(mark), [], "nothing sent again");
  assert.deepEqual(await storeUploads(base.laptop), openBefore, "no upload created");
  assert.equal((await stack.debug.object(phone.result.key))?.sha256, sha256, "the object is the laptop's file too");
});

test("changed bytes on the phone (same name, size and sample) start afresh, never mixed", { timeout: 240_000 }, async () => {
  const file = { name: "notes.bin", size: SIZE, seed: 62, lastModified: LAPTOP_DATE };
  await beginOnLaptop(file, 2);
  await open("phone", "alice");
  const mark = stack.gate.mark();
  // A byte of part 2, outside the sampled first, middle and last 64 KiB.
  const changed = { ...file, lastModified: PHONE_DATE, flip: [PART + 1000] };
  const { sha256 } = await startUpload(tab.phone, "phone-changed", { file: changed, options: { headers: "bearer" } });
  const run = await phoneOutcome("phone-changed");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.restarts, ["file-changed"]);
  const uploads = new Set(stack.gate.since(mark).map((p) => p.uploadId));
  assert.equal(uploads.size, 1, "nothing sent into the laptop's upload: it may still be going on there");
  assert.deepEqual(partsSent(mark), [1, 2, 3, 4, 5], "a fresh upload of every part");
  const object = await stack.debug.object(run.outcome.result.key);
  assert.equal(object?.sha256, sha256, "the phone's bytes, none of the laptop's");
});

test("another user's upload is not offered: the phone signed in as bob uploads afresh", { timeout: 240_000 }, async () => {
  const file = { name: "private.bin", size: SIZE, seed: 63, lastModified: LAPTOP_DATE };
  await beginOnLaptop(file, 2);
  await open("phone", "bob");
  const mark = stack.gate.mark();
  await startUpload(tab.phone, "bob", { file: { ...file, lastModified: PHONE_DATE }, options: { headers: "bearer" } });
  const run = await phoneOutcome("bob");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  assert.deepEqual(run.resumes, []);
  assert.deepEqual(partsSent(mark), [1, 2, 3, 4, 5]);
  assert.match(run.outcome.result.key, /^uploads\/bob\//);
});

test("a token that expires mid-upload is refreshed (headers asked with refresh: true), and the upload finishes", { timeout: 240_000 }, async () => {
  await open("phone", "carol");
  await startUpload(tab.phone, "anonymous", { file: { name: "a.bin", size: PART, seed: 64 } });
  const refused = await phoneOutcome("anonymous");
  assert.equal(refused.outcome.error?.status, 401, JSON.stringify(refused.outcome));
  assert.match(refused.outcome.error.message, /`headers`/);

  const file = { name: "long.bin", size: SIZE, seed: 65 };
  stack.gate.holdAfter(2);
  const { sha256 } = await startUpload(tab.phone, "refresh", { file, options: { headers: "bearer", concurrency: 1 } });
  await onPhone(waitStored(tab.phone, "refresh", "", 2));
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "part 3 in flight" });
  // The token in use expires (past the server's 30 s leeway); a fresh one waits for a refresh.
  await tab.phone.evaluate(
    ([expired, fresh]) => Object.assign(window.e2e.auth, { token: expired, next: fresh, asked: [] }),
    [tokenOf("carol", epoch(-120)), tokenOf("carol")],
  );
  stack.gate.release();
  const run = await phoneOutcome("refresh");
  assert.ok(run.outcome.result, JSON.stringify(run.outcome.error));
  const asked = await tab.phone.evaluate(() => window.e2e.auth.asked);
  assert.equal(asked.filter((refresh) => refresh).length, 1, `one refresh: ${JSON.stringify(asked)}`);
  assert.equal(asked[asked.indexOf(true) - 1], false, "asked for the current token first");
  const object = await stack.debug.object(run.outcome.result.key);
  assert.equal(object?.sha256, sha256);
});

function createHashOf(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

test("clearPending on a server with sign-in: without credentials 401 and nothing forgotten; a headers function, asked with the endpoint, aborts it", { timeout: 120_000 }, async () => {
  await open("laptop", "dave");
  const namespace = `clear-${randomBytes(4).toString("hex")}`;
  stack.gate.holdAfter(1);
  await startUpload(tab.laptop, "clear", { file: { name: "clear.bin", size: SIZE, seed: 70 }, options: { headers: "bearer", concurrency: 1, namespace } });
  await waitStored(tab.laptop, "clear", namespace, 1);
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 30_000, what: "part 2 in flight" });
  await pause(tab.laptop, "clear");
  stack.gate.release();
  const refused = await tab.laptop.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib("pending");
    const listed = async () => [...(await Upload.listPending({ namespace }))].map((p) => ({ ...p }));
    const [stored] = await listed();
    const refused = await Upload.clearPending({ namespace }).then(
      (count) => ({ count }),
      (e) => ({ code: e.code, status: e.status }),
    );
    return { stored, refused, kept: (await listed()).length };
  }, namespace);
  const { stored } = refused;
  assert.equal(stored?.running, false, JSON.stringify(stored));
  assert.deepEqual(refused.refused, { code: "HTTP_STATUS", status: 401 });
  assert.equal(refused.kept, 1, "a refused clear forgets nothing");
  assert.ok((await storeUploads(base.laptop)).includes(stored.uploadId), "and the store keeps the upload");

  const cleared = await tab.laptop.evaluate(
    async ({ namespace, token }) => {
      const { Upload } = await window.e2e.lib("pending");
      const asked = [];
      const headers = (context) => (asked.push({ ...context }), { authorization: `Bearer ${token}` });
      const count = await Upload.clearPending({ namespace, headers });
      return { count, asked, left: (await Upload.listPending({ namespace })).length };
    },
    { namespace, token: tokenOf("dave") },
  );
  assert.deepEqual(cleared, { count: 1, asked: [{ refresh: false, endpoint: stored.endpoint }], left: 0 });
  assert.ok(!(await storeUploads(base.laptop)).includes(stored.uploadId), "aborted in the store");
});
