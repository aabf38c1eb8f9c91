// SHA-256 throughput (issue 4): resupload's hash worker and sha2 in its wasm
// beside WebCrypto and hash-wasm, on the same bytes; see bench/hash.mjs.

import { measureHashes } from "../hash.mjs";
import { log } from "../lib/util.mjs";

export const id = "hash";
export const title = "SHA-256 throughput";
export const needsBrowser = true;
export const enabledByDefault = true;

export async function run(ctx) {
  const { bench } = ctx;
  await bench.reopenPage();
  const runs = Math.max(3, ctx.opts.runs ?? 3) + 2;
  const { lines, figures, fourPartsMs } = await measureHashes(bench.page, { sizeMiB: 64, runs });
  log(lines.join("\n"));
  // The page now holds 64 MiB and the benchmark's hashers: start afresh.
  await bench.reopenPage();
  return { markdown: lines.join("\n"), json: { figures, fourPartsMs } };
}
