// The demo page's unfinished-uploads list after a reload (issue 11): an
// upload the page started from a file handle, or with "Keep a copy…"
// (stage: "opfs"), shows a Resume button that continues it in one click;
// one from a plain file input shows "Pick this file…" only; a Resume that
// fails (the file changed behind the handle) says why and falls back to
// picking. Runs in every engine (E2E_BROWSER): the tests that need a file
// handle skip where the page cannot write the origin-private file system,
// and "Keep a copy" where that file system is refused (WebKitGTK's
// WebDriver session) checks the warning and the fallback to picking. And the demo sign-in (issue 12) against a dev server with
// --demo-auth: each identity lists its own unfinished uploads.
//
// A headless browser cannot answer a file picker, and a test cannot drop a
// file from the disk, so the page's picker (`window.showOpenFilePicker`) and
// a synthetic drop's items answer the handle of a file of the origin-private
// file system: a real FileSystemFileHandle, which the page then passes to
// `new Upload(handle)` as it would a picked or dropped one.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { afterEach, test } from "node:test";

import { MIB, waitUntil } from "./harness.mjs";
import { entry, listedPending, openDemo, pickFiles, randomNamespace, range, shown, waitDone, waitPartsDone, waitReady } from "./demo.mjs";
import { canWriteOpfs, clearPending, contentBytes, opfsState, pending, stagedCopies, writeOpfsFile } from "./in-page.mjs";
import { holdingProxy } from "./loopback.mjs";
import { assertNothingLeft, assertObject, pickAndHold, reloadMidUpload, useStack } from "./steps.mjs";

const PART = 5 * MIB;
const SIZE = 4 * PART + 33; // 5 parts

const stack = useStack("demo-resume");
afterEach(() => stack.gate.release());

function demoParams(namespace) {
  return { namespace, partSize: PART, concurrency: 1 };
}

/** Makes the page's file picker answer the handle of OPFS file `name`, and presses "Choose files". */
async function chooseOpfsFile(tab, name) {
  await tab.evaluate(async (name) => {
    const handle = await (await navigator.storage.getDirectory()).getFileHandle(name);
    window.showOpenFilePicker = async () => [handle];
  }, name);
  await tab.click("#choose-button");
}

/**
 * Drops OPFS file `name` on the page's drop zone. A synthetic drop carries
 * no handle, so its items answer that file's handle, as a real drop's do.
 */
async function dropOpfsFile(tab, name) {
  await tab.evaluate(async (name) => {
    const handle = await (await navigator.storage.getDirectory()).getFileHandle(name);
    DataTransferItem.prototype.getAsFileSystemHandle = async () => handle;
    const transfer = new DataTransfer();
    transfer.items.add(await handle.getFile());
    const zone = document.querySelector("#drop-zone");
    for (const type of ["dragenter", "dragover", "drop"]) {
      zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
    }
  }, name);
}

/** Gives the page OPFS file `name` (`how`: chooseOpfsFile or dropOpfsFile), lets `k` parts through and holds the next; answers the stored record. */
async function giveAndHold(tab, how, name, namespace, k) {
  stack.gate.holdAfter(k);
  await how(tab, name);
  await waitUntil(() => stack.gate.heldOpen() >= 1, { timeout: 90_000, what: `${k} parts stored and a later one held` });
  await waitPartsDone(tab, name, k, 30_000);
  return waitUntil(async () => (await pending(tab, namespace)).find((p) => p.fileName === name && p.partsDone >= k), {
    timeout: 10_000,
    what: `the stored record of ${name} to count ${k} parts`,
  });
}

const itemSelector = (fileName) => `#pending-list .pending-item[data-file-name="${fileName}"]`;

/** What the list shows for `fileName`: its visible buttons, what it resumes from, its problem line; null if not listed. */
async function listedItem(tab, fileName) {
  return tab.evaluate((selector) => {
    const item = document.querySelector(selector);
    if (!item) return null;
    const buttons = [...item.querySelectorAll("button[data-action]")].filter((b) => !b.hidden && b.offsetParent !== null);
    return {
      actions: buttons.map((b) => b.dataset.action),
      labels: buttons.map((b) => b.textContent),
      resumeFrom: item.dataset.resumeFrom,
      problem: item.querySelector(".pending-problem")?.textContent ?? null,
    };
  }, itemSelector(fileName));
}

/** The part numbers the store accepted since `mark`, in order. */
function sentSince(mark) {
  const puts = stack.gate.since(mark);
  assert.deepEqual(puts.filter((p) => p.state !== "done"), [], "every part PUT after the reload succeeded");
  return puts.map((p) => p.partNumber).sort((a, b) => a - b);
}

async function assertListEmpty(tab, namespace) {
  const listed = await listedPending(tab);
  assert.equal(listed.visible, false, "the unfinished-uploads list is hidden");
  assert.deepEqual(listed.items, []);
  assert.deepEqual(await pending(tab, namespace), [], "no record is left in the browser");
}

test("an upload chosen as a file handle resumes after a reload with one click on Resume", { timeout: 240_000 }, async (t) => {
  const tab = stack.tab;
  const namespace = randomNamespace("demo-handle");
  await openDemo(stack, tab, demoParams(namespace));
  if (!(await canWriteOpfs(tab))) return t.skip("no origin-private file system to take a handle from");
  const name = "chosen-handle.bin";
  assert.equal(await writeOpfsFile(tab, name, SIZE, 51), true);
  const record = await giveAndHold(tab, chooseOpfsFile, name, namespace, 2);
  assert.equal((await entry(tab, name)).from, "handle", "the page uploads from the handle");
  await reloadMidUpload(stack, tab);

  assert.deepEqual(await listedItem(tab, name), { actions: ["resume"], labels: ["Resume"], resumeFrom: "handle", problem: null });
  const mark = stack.gate.mark();
  await tab.click(`${itemSelector(name)} [data-action="resume"]`);
  const done = await waitDone(tab, name);
  assert.equal(done.result.uploadId, record.uploadId, "the same multipart upload continues");
  assert.equal(done.resumed?.skippedParts, 2);
  assert.equal(done.partsDone, 5);
  assert.deepEqual(sentSince(mark), range(3, 5), "only the missing parts are sent");
  const sha256 = createHash("sha256").update(contentBytes({ size: SIZE, seed: 51 })).digest("hex");
  await assertObject(stack, record.key, sha256, SIZE);
  await assertListEmpty(tab, namespace);
  await assertNothingLeft(stack, tab, namespace, record);
});

test("with “Keep a copy” checked, a picked file resumes from its staged copy with one click (where the file system is refused: a warning, and “Pick this file…”)", { timeout: 240_000 }, async (t) => {
  const tab = stack.tab;
  const namespace = randomNamespace("demo-staged");
  await openDemo(stack, tab, demoParams(namespace));
  const opfs = await opfsState(tab);
  const offered = await tab.evaluate(() => !document.querySelector("#stage-option").hidden);
  assert.equal(offered, opfs !== "none", "the checkbox is offered wherever there is an origin-private file system");
  if (opfs === "none") return t.skip("no origin-private file system to stage a copy in");
  const file = await stack.makeFile("kept-copy.bin", SIZE);
  await tab.click("#stage-input");
  stack.gate.holdAfter(2);
  await pickFiles(tab, file.path);
  await waitPartsDone(tab, file.name, 2, 90_000);
  assert.equal((await entry(tab, file.name)).stage, "opfs");
  if (opfs === "refused") return refusedCopy(tab, file, namespace);
  const record = await waitUntil(
    async () => (await pending(tab, namespace)).find((p) => p.canResumeWithoutPicking && p.partsDone >= 2),
    { timeout: 60_000, what: "the staged copy to be complete and 2 parts stored" },
  );
  await reloadMidUpload(stack, tab);

  const item = await listedItem(tab, file.name);
  assert.deepEqual(item.actions, ["resume"]);
  assert.equal(item.resumeFrom, "copy");
  const mark = stack.gate.mark();
  await tab.click(`${itemSelector(file.name)} [data-action="resume"]`);
  const done = await waitDone(tab, file.name);
  assert.equal(done.result.uploadId, record.uploadId);
  assert.equal(done.from, "copy");
  assert.deepEqual(sentSince(mark), range(3, 5), "only the missing parts are sent");
  await assertObject(stack, record.key, file.sha256, SIZE);
  await assertListEmpty(tab, namespace);
  assert.deepEqual(await stagedCopies(tab), [], "the staged copy is deleted");
});

/**
 * "Keep a copy" where the browser refuses its file system: the card says
 * the copy failed, the upload goes on, and after a reload the list offers
 * "Pick this file…", which sends only the rest.
 */
async function refusedCopy(tab, file, namespace) {
  const warned = await waitUntil(async () => ((await entry(tab, file.name)).warnings.length > 0 ? entry(tab, file.name) : null), {
    timeout: 30_000,
    what: "a warning that the copy failed",
  });
  assert.deepEqual(warned.warnings, ["STAGING_FAILED"]);
  assert.match((await shown(tab, file.name)).note, /^warning STAGING_FAILED: .*the file must be picked again/);
  const record = (await pending(tab, namespace)).find((p) => p.fileName === file.name);
  assert.equal(record.canResumeWithoutPicking, false);
  await reloadPickAgain(tab, file, namespace, record, 2);
}

/**
 * Reloads mid-upload, checks that the list offers only "Pick this file…"
 * for `file`, picks it again, and checks that only the parts after the
 * `stored` first ones are sent, to the same upload, and nothing is left.
 */
async function reloadPickAgain(tab, file, namespace, record, stored) {
  await reloadMidUpload(stack, tab);
  assert.deepEqual(await listedItem(tab, file.name), { actions: ["pick"], labels: ["Pick this file…"], resumeFrom: "pick", problem: null });
  const mark = stack.gate.mark();
  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name);
  assert.equal(done.result.uploadId, record.uploadId);
  assert.deepEqual(sentSince(mark), range(stored + 1, 5), "only the missing parts are sent");
  await assertObject(stack, record.key, file.sha256, SIZE);
  await assertListEmpty(tab, namespace);
}

test("an upload from the plain file input offers “Pick this file…” and no Resume; picking it continues", { timeout: 240_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("demo-pick");
  await openDemo(stack, tab, demoParams(namespace));
  // Without demo identities (no --demo-auth) the page changes nothing.
  const identity = await tab.evaluate(() => ({
    hidden: document.querySelector("#identity").hidden,
    identity: window.resuploadDemo.identity,
    namespace: window.resuploadDemo.namespace,
  }));
  assert.deepEqual(identity, { hidden: true, identity: null, namespace });
  const file = await stack.makeFile("picked-plain.bin", SIZE);
  const record = await pickAndHold(stack, tab, file, namespace, 1);
  assert.equal((await entry(tab, file.name)).from, "file");
  assert.equal((await entry(tab, file.name)).stage, "none");
  await reloadPickAgain(tab, file, namespace, record, 1);
});

test("a dropped file's handle: a Resume that finds the file changed says so and falls back to “Pick this file…”, sending nothing", { timeout: 180_000 }, async (t) => {
  const tab = stack.tab;
  const namespace = randomNamespace("demo-changed");
  await openDemo(stack, tab, demoParams(namespace));
  if (!(await canWriteOpfs(tab))) return t.skip("no origin-private file system to take a handle from");
  const name = "changes-behind-handle.bin";
  await writeOpfsFile(tab, name, SIZE, 52);
  const record = await giveAndHold(tab, dropOpfsFile, name, namespace, 1);
  assert.equal((await entry(tab, name)).from, "handle", "the page uploads from the dropped file's handle");
  await reloadMidUpload(stack, tab);
  await writeOpfsFile(tab, name, SIZE, 53); // new bytes and a new date behind the kept handle

  assert.deepEqual((await listedItem(tab, name)).actions, ["resume"]);
  const mark = stack.gate.mark();
  await tab.click(`${itemSelector(name)} [data-action="resume"]`);
  const item = await waitUntil(async () => {
    const item = await listedItem(tab, name);
    return item?.problem ? item : null;
  }, { timeout: 30_000, what: "the list to show why Resume failed" });
  assert.deepEqual(item.actions, ["pick"], "no Resume any more, only picking");
  assert.equal(item.resumeFrom, "pick");
  assert.match(item.problem, /changed/);
  assert.match(item.problem, /FILE_CHANGED/);
  assert.equal(await entry(tab, name), null, "no upload card was made");
  assert.deepEqual(stack.gate.since(mark), [], "nothing was sent");
  assert.equal((await stack.debug.parts(record.key, record.uploadId)).length, 1, "the stored upload is untouched");
  await clearPending(tab, namespace);
});

/** Types `user` into the sign-in form and presses "Sign in". */
async function signIn(tab, user) {
  await tab.evaluate((user) => {
    document.querySelector("#user-input").value = user;
  }, user);
  await tab.click('#sign-in-form button[type="submit"]');
}

async function identityShown(tab) {
  return tab.evaluate(() => ({
    user: window.resuploadDemo.identity?.user ?? null,
    owner: window.resuploadDemo.identity?.owner ?? null,
    namespace: window.resuploadDemo.namespace,
    text: document.querySelector("#identity-text").textContent,
    form: !document.querySelector("#sign-in-form").hidden,
    signOut: !document.querySelector("#sign-out-button").hidden,
    problem: document.querySelector("#identity-problem").hidden ? null : document.querySelector("#identity-problem").textContent,
  }));
}

async function waitListed(tab, names) {
  return waitUntil(async () => {
    const listed = (await listedPending(tab)).items.map((i) => i.fileName);
    return JSON.stringify(listed) === JSON.stringify(names) ? listed : null;
  }, { timeout: 15_000, what: `the list to show ${JSON.stringify(names)}` });
}

test("demo sign-in (--demo-auth): who you are, sign in and out, each identity lists its own uploads", { timeout: 240_000 }, async () => {
  const tab = stack.tab;
  const { baseUrl } = await stack.startServer({ name: "demo-auth", args: ["--demo-auth"] });
  const namespace = randomNamespace("demo-auth");
  const url = new URL("/", baseUrl);
  for (const [k, v] of Object.entries(demoParams(namespace))) url.searchParams.set(k, String(v));
  await tab.goto(url.href);
  await waitReady(tab);

  const anonymous = await identityShown(tab);
  assert.match(anonymous.owner, /^anon:[0-9a-f]{32}$/);
  assert.equal(anonymous.namespace, `${namespace}/${anonymous.owner}`, "uploads are kept under the identity");
  assert.deepEqual([anonymous.user, anonymous.form, anonymous.signOut], [null, true, false]);
  assert.match(anonymous.text, /Anonymous/);

  await signIn(tab, "not a name");
  const refused = await waitUntil(async () => (await identityShown(tab)).problem, { timeout: 10_000, what: "the refusal" });
  assert.match(refused, /letters, digits/);
  assert.equal((await identityShown(tab)).owner, anonymous.owner, "a refused name changes nothing");

  await signIn(tab, "Alice");
  const alice = await waitUntil(async () => {
    const shown = await identityShown(tab);
    return shown.user === "alice" ? shown : null;
  }, { timeout: 10_000, what: "the sign-in" });
  assert.deepEqual([alice.owner, alice.namespace, alice.form, alice.signOut, alice.problem], ["user:alice", `${namespace}/user:alice`, false, true, null]);
  assert.match(alice.text, /alice/);

  // An upload of Alice's, cut by a reload: listed for her only.
  const file = await stack.makeFile("alices-file.bin", SIZE);
  const record = await pickAndHold(stack, tab, file, alice.namespace, 1);
  await reloadMidUpload(stack, tab);
  assert.equal((await identityShown(tab)).user, "alice", "the sign-in outlives the reload");
  await waitListed(tab, [file.name]);
  await tab.click("#sign-out-button");
  await waitListed(tab, []);
  assert.equal((await identityShown(tab)).owner, anonymous.owner, "back to this browser's anonymous identity");
  await signIn(tab, "alice");
  await waitListed(tab, [file.name]);

  // The server lets Alice continue it.
  const mark = stack.gate.mark();
  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name);
  assert.equal(done.result.uploadId, record.uploadId, "the same multipart upload continues");
  assert.deepEqual(sentSince(mark), range(2, 5));
  await assertObject(stack, record.key, file.sha256, SIZE);
  await assertListEmpty(tab, alice.namespace);
});

test("demo identity calls the server never answers end after 10 s: the page loads without an identity, a sign-in says so", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  // A server of its own, whose cookie secret no earlier test's cookie
  // verifies under: this browser is anonymous there.
  const { baseUrl } = await stack.startServer({ name: "demo-auth-held", args: ["--demo-auth"], env: { AUTH_COOKIE_SECRET: randomBytes(32).toString("hex") } });
  let whoamis = 0;
  const silent = ({ method, path }) => (path === "/api/demo/whoami" && ++whoamis === 1) || (method === "POST" && path === "/api/demo/sign-in");
  const proxy = await holdingProxy(baseUrl, (request) => silent(request) && "silent");
  try {
    const url = new URL("/", proxy.origin);
    for (const [k, v] of Object.entries(demoParams(randomNamespace("demo-held")))) url.searchParams.set(k, String(v));

    // The page's first question, who is signed in, gets no answer.
    const asked = Date.now();
    await tab.goto(url.href);
    await waitReady(tab);
    assert.ok(Date.now() - asked >= 9_500, `the page waited for the call's time limit (${Date.now() - asked} ms)`);
    assert.equal((await identityShown(tab)).owner, null, "it goes on without an identity");
    const notices = await tab.evaluate(() => [...document.querySelectorAll("#notice p")].map((p) => p.textContent));
    assert.ok(notices.some((n) => n.includes("did not answer /api/demo/whoami within 10 s")), JSON.stringify(notices));

    // Answered after a reload; then a sign-in that gets no answer.
    await tab.goto(url.href);
    await waitReady(tab);
    assert.match((await identityShown(tab)).owner, /^anon:[0-9a-f]{32}$/);
    await signIn(tab, "alice");
    const problem = await waitUntil(async () => (await identityShown(tab)).problem, { timeout: 20_000, what: "the sign-in's time limit" });
    assert.match(problem, /did not answer \/api\/demo\/sign-in within 10 s/);
    assert.match((await identityShown(tab)).owner, /^anon:/, "still anonymous");
    const disabled = await tab.evaluate(() => [...document.querySelectorAll("#identity button")].some((b) => b.disabled));
    assert.equal(disabled, false, "the identity buttons work again");
    assert.equal(proxy.calls.filter((c) => c.path === "/api/demo/sign-in").length, 1, "the sign-in was asked once");
  } finally {
    await proxy.close();
  }
});
