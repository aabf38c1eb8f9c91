// The chaos test: a 200 MiB file uploads while about 10% of part PUTs fail
// in assorted ways and the page is reloaded at random moments. It passes when
// the stored object's SHA-256 equals the file's and the parts stored again
// stay within reloads x concurrency x part size. The seed is fixed (override
// with CHAOS_SEED) and named in the test, so a failure can be replayed.

import assert from "node:assert/strict";

import { retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, waitUntil } from "./harness.mjs";
import { randomNamespace } from "./demo.mjs";
import { startUpload, waitOutcome } from "./in-page.mjs";
import { assertObject, useStack } from "./steps.mjs";

const SEED = Number(process.env.CHAOS_SEED ?? 20261125);
const SIZE = 200 * MIB;
const PART = 8 * MIB;
const CONCURRENCY = 4;
const PARTS = Math.ceil(SIZE / PART);
const RELOADS = 3;

const stack = useStack("chaos");
const test = retriedOnEngineFault(() => ({ stack }));

/** mulberry32: the reload points, from the same seed. */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks the file in a fresh page (through an input of its own, not the demo's) and starts (or resumes) its upload. */
async function pickAndStart(tab, path, namespace) {
  await tab.goto(stack.demoUrl({ namespace }));
  await tab.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<input type="file" id="chaos-input" hidden>'));
  await tab.pickFiles("#chaos-input", [path]);
  const options = { namespace, partSize: PART, concurrency: CONCURRENCY, retryDelays: [0, 200, 500, 1000, 2000] };
  await startUpload(tab, "chaos", { file: { picked: "#chaos-input" }, options });
}

test(`chaos: 200 MiB, ~10% faulty part PUTs, ${RELOADS} random reloads (seed ${SEED})`, { timeout: 600_000 }, async () => {
  const random = generator(SEED);
  const file = await stack.makeFile("chaos.bin", SIZE);
  const namespace = randomNamespace("chaos");
  const tab = stack.tab;
  const mark = stack.gate.mark();
  stack.gate.chaos({
    seed: SEED,
    rate: 0.1,
    kinds: [
      { status: 500, body: "<Error><Code>InternalError</Code></Error>" },
      { status: 503, body: "<Error><Code>SlowDown</Code></Error>" },
      { status: 429, headers: { "retry-after": "1" }, body: "<Error><Code>SlowDown</Code></Error>" },
      { reset: 1 * MIB },
    ],
  });
  // Reload once this many parts are stored (increasing, before the end).
  const reloadAt = Array.from({ length: RELOADS }, () => 1 + Math.floor(random() * (PARTS - 2))).sort((a, b) => a - b);
  const stored = () => new Set(stack.gate.since(mark).filter((p) => p.state === "done").map((p) => p.partNumber)).size;
  for (const at of reloadAt) {
    await pickAndStart(tab, file.path, namespace);
    await waitUntil(() => stored() >= at || false, { timeout: 120_000, interval: 5, what: `${at} parts stored` });
    await tab.reload();
  }
  await pickAndStart(tab, file.path, namespace);
  const { outcome } = await waitOutcome(tab, "chaos", 300_000);
  stack.gate.chaos(null);
  assert.ok(outcome.result, `seed ${SEED}: the upload failed: ${JSON.stringify(outcome)}`);
  await assertObject(stack, outcome.result.key, file.sha256);

  const puts = stack.gate.since(mark);
  const doneCounts = new Map();
  for (const p of puts.filter((p) => p.state === "done")) doneCounts.set(p.partNumber, (doneCounts.get(p.partNumber) ?? 0) + 1);
  const storedAgain = [...doneCounts.values()].reduce((sum, n) => sum + (n - 1), 0);
  const faults = puts.filter((p) => p.fault).length;
  console.log(`# chaos seed ${SEED}: reloads at ${reloadAt.join(", ")} parts; ${puts.length} part PUTs, ${faults} faulty; parts stored again: ${storedAgain}`);
  assert.ok(faults > 0, "faults were injected");
  assert.ok(
    storedAgain * PART <= RELOADS * CONCURRENCY * PART,
    `seed ${SEED}: ${storedAgain} parts stored again, over ${RELOADS} reloads x ${CONCURRENCY} in flight`,
  );
});
