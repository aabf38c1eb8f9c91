// Not a test (npm test does not run it): a tool that counts how often an
// engine traps in the module, for tests/e2e/README.md "A known rare
// failure". It uploads a 4-part file through the API from a fresh demo
// page, again and again in one browser session, and counts the runs that
// ended in an `EngineTrap` (engine-traps.mjs) and the other failures.
//
//   E2E_BROWSER=wpe TRAP_STRESS_RUNS=600 node --test tests/e2e/trap-stress.mjs
//
// JavaScriptCore reads its options from the environment cog starts in,
// so `JSC_thresholdForOMGOptimizeAfterWarmUp=50` (tier up sooner) or
// `JSC_useOMGJIT=false` (no optimizing tier) in front of that command
// reach the page. `TRAP_STRESS_BUILD=queue` uploads with the module the
// demo page loaded, so that the page holds one module, not two. A line every 50 runs, each failure, and the total go to
// standard error as TAP diagnostics.

import { test } from "node:test";

import { EngineTrap } from "./engine-traps.mjs";
import { MIB } from "./harness.mjs";
import { openDemo, randomNamespace } from "./demo.mjs";
import { startUpload, waitOutcome } from "./in-page.mjs";
import { useStack } from "./steps.mjs";

const stack = useStack("trap-stress");
const RUNS = Number(process.env.TRAP_STRESS_RUNS || 200);
const SIZE = 3 * 5 * MIB + 777;
// The package build the uploads use (in-page.mjs `lib`): "" (`resupload`,
// a second module beside the demo page's) or "queue" (the demo page's own).
const BUILD = process.env.TRAP_STRESS_BUILD || "";

test(`${RUNS} uploads, traps counted`, { timeout: RUNS * 30_000 }, async (t) => {
  const count = { traps: 0, other: 0 };
  const started = Date.now();
  for (let i = 1; i <= RUNS; i++) {
    try {
      await openDemo(stack, stack.tab);
      const options = { concurrency: 2, namespace: randomNamespace("trap-stress"), stallTimeout: 1500, retryDelays: [0] };
      await startUpload(stack.tab, `run${i}`, { file: { name: `run${i}.bin`, size: SIZE }, options, build: BUILD });
      const run = await waitOutcome(stack.tab, `run${i}`);
      if (!run.outcome.result) throw new Error(JSON.stringify(run.outcome.error));
    } catch (error) {
      if (error instanceof EngineTrap) count.traps += 1;
      else count.other += 1;
      console.error(`# run ${i}: ${error.name}: ${error.message.replaceAll("\n", " | ")}`);
    }
    if (i % 50 === 0) console.error(`# after ${i} runs: ${count.traps} traps, ${count.other} other failures`);
  }
  t.diagnostic(`${RUNS} runs in ${((Date.now() - started) / 1000).toFixed(0)} s: ${count.traps} traps, ${count.other} other failures`);
});
