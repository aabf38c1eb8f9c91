// Steps and checks the test files share, on a running stack, in any engine
// (each takes a tab of browsers.mjs; a Playwright page works too):
//
//   const stack = useStack("pause");                     // started before the file's tests, stopped after
//   const record = await pickAndHold(stack, tab, file, namespace, 2); // demo page: 2 parts stored, the next held
//   const record = await startAndHold(stack, tab, "a", spec, 2);      // the same for an in-page run (in-page.mjs)
//   await reloadMidUpload(stack, tab);                    // reload, the held parts dropped, the gate open again
//   await pauseHeld(stack, tab, "a");                     // pause an in-page run that parts are held for

import assert from "node:assert/strict";
import { after, before } from "node:test";

import { startStack, waitUntil } from "./harness.mjs";
import { pickFiles, waitPartsDone, waitReady } from "./demo.mjs";
import { engineHangOf, engineTrapOf } from "./engine-traps.mjs";
import { endedReport, pause, pending, report, startUpload, waitOutcome, waitStored } from "./in-page.mjs";

/** A stand-in for the stack (harness.mjs) that `before` starts for this file's tests and `after` stops. */
export function useStack(label) {
  let stack = null;
  before(async () => {
    stack = await startStack({ label });
  });
  after(async () => {
    await stack?.stop();
  });
  return new Proxy({}, { get: (_, key) => stack[key] });
}

/**
 * Waits until `k` parts went through the gate since `mark` (its
 * `mark()`) and a later one is held there; or, sooner, until `ended()`
 * answers something (the run is over, so no part will come): then
 * answers that.
 */
async function waitHeldAfter(stack, k, mark, ended = async () => null) {
  return waitUntil(async () => (stack.gate.completedCount(mark) >= k && stack.gate.heldOpen() >= 1) || (await ended()), {
    timeout: 90_000,
    what: `${k} parts stored and a later one in flight`,
  });
}

/** Picks `file` in the demo page, lets `k` parts through and holds the next; answers the stored record once it counts `k`. */
export async function pickAndHold(stack, tab, file, namespace, k) {
  const mark = stack.gate.mark();
  stack.gate.holdAfter(k);
  await pickFiles(tab, file.path);
  await waitHeldAfter(stack, k, mark);
  await waitPartsDone(tab, file.name, k, 30_000);
  return waitUntil(async () => (await pending(tab, namespace)).find((p) => p.fileName === file.name && p.partsDone >= k), {
    timeout: 10_000,
    what: `the stored record to count ${k} parts done`,
  });
}

/** Starts in-page run `name` of `spec`, lets `k` parts through and holds the next; answers the stored record once it counts `k`. */
export async function startAndHold(stack, tab, name, spec, k) {
  const mark = stack.gate.mark();
  stack.gate.holdAfter(k);
  await startUpload(tab, name, spec);
  // The gate holds part k + 1, so a run that ends first failed: it is told
  // at once (a WPE trap as an EngineTrap, for its second try), and a wait
  // that times out says how far the run got.
  const held = await waitHeldAfter(stack, k, mark, () => endedReport(tab, name)).catch(async (error) => {
    throw engineHangOf(await report(tab, name).catch(() => null), error);
  });
  if (held !== true) {
    throw engineTrapOf(held) ?? new Error(`run ${name} ended before ${k} parts were held: ${JSON.stringify(held.outcome)}`);
  }
  return waitStored(tab, name, spec.options.namespace, k);
}

/** Reloads the (demo) page while parts are held, waits until the reload dropped them, and opens the gate. */
export async function reloadMidUpload(stack, tab) {
  await tab.reload();
  await waitReady(tab);
  await waitUntil(() => stack.gate.heldOpen() === 0, { timeout: 15_000, what: "the reload to drop the held parts" });
  stack.gate.release();
}

/** Pauses in-page run `name` while a part is held, checks that start() ended with PAUSED, and opens the gate. */
export async function pauseHeld(stack, tab, name) {
  // The requests held at the pause: another run (a second tab waiting for
  // the lock) may have its own held once this one stops. With none held
  // yet (a part still on its way), any held one is this run's.
  const held = stack.gate.heldNow();
  const dropped = held.length > 0 ? () => held.every((h) => h.closed) : () => stack.gate.heldOpen() === 0;
  await pause(tab, name);
  const paused = await waitOutcome(tab, name, 30_000);
  assert.equal(paused.outcome.error?.code, "PAUSED", JSON.stringify(paused.outcome));
  // Released only once the browser dropped the held part: a late drop
  // would let it through to the store.
  await waitUntil(dropped, { timeout: 10_000, what: "the held part requests to be dropped" });
  stack.gate.release();
  return paused;
}

/** The object at `key` is stored and has this SHA-256 (and size). */
export async function assertObject(stack, key, sha256, size) {
  const object = await stack.debug.object(key);
  assert.ok(object, `no object stored at ${key}`);
  assert.equal(object.sha256, sha256, "the stored object is the file, byte for byte");
  if (size !== undefined) assert.equal(object.size, size);
  return object;
}

/** Nothing is left of the upload `{ key, uploadId }`: no record in the page, no multipart upload on the store. */
export async function assertNothingLeft(stack, tab, namespace, { key, uploadId }) {
  assert.deepEqual(await pending(tab, namespace), [], "no record is left in the browser");
  const left = (await stack.debug.uploads()).filter((u) => u.key === key || u.uploadId === uploadId);
  assert.deepEqual(left, [], "no multipart upload is left on the store");
}

/** `method route` on the dev server with a string `body`: `{ status, json, text }` (`json` null if the answer is not JSON). */
export async function callServer(stack, method, route, body, headers = { "content-type": "application/json" }) {
  const response = await fetch(new URL(route, stack.baseUrl), { method, headers, body });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, json, text };
}
