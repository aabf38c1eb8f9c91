// What `stage: "opfs"` costs: the same file (random bytes on disk, picked
// through the file input) uploaded with and without a staged copy, runs
// alternating, 8 MiB parts, 4 at a time, checksums off (so the copy competes
// with the sending only). A staged run also reports when its copy was
// complete (the staging folder's entry reaching the file's size: a copy is
// written to a swap file and appears whole when it closes), as a share of
// the upload's time. Every stored object is checked by SHA-256.

import { fmt, log, median } from "../lib/util.mjs";

export const id = "staging";
export const title = "Staged copies (stage: \"opfs\")";
export const needsBrowser = true;
export const enabledByDefault = true;

const SIZE_MIB = 256;

/** One upload of the picked file; answers `{ seconds, copiedAt, key }` (copiedAt: s, or null). */
async function upload(page, options) {
  return page.evaluate(async (options) => {
    const { Upload, file } = window.bench;
    const copyDone = { at: null };
    const t0 = performance.now();
    let watching = options.stage === "opfs";
    const watch = (async () => {
      while (watching) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("resupload-staging");
          for await (const handle of dir.values()) {
            if ((await handle.getFile()).size === file.size && copyDone.at === null) copyDone.at = (performance.now() - t0) / 1000;
          }
        } catch {
          // no folder yet
        }
      }
    })();
    const warnings = [];
    const result = await new Upload(file, { ...options, onWarning: (w) => warnings.push(w.code) }).start();
    const seconds = (performance.now() - t0) / 1000;
    watching = false;
    await watch;
    return { seconds, copiedAt: copyDone.at, key: result.key, warnings };
  }, options);
}

export async function run(ctx) {
  const { bench, opts } = ctx;
  const file = await ctx.randomFile(SIZE_MIB);
  await bench.setFile(file.path);
  const runs = Math.max(3, opts.runs);
  const results = { none: [], opfs: [] };
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ["none", "opfs"] : ["opfs", "none"];
    for (const stage of order) {
      const options = { endpoint: "/api/s3", partSize: ctx.partSize, concurrency: ctx.concurrency, checksum: "none", stage, namespace: `staging-${stage}-${r}-${Date.now()}` };
      const one = await upload(bench.page, options);
      const stored = await bench.checkS3(one.key);
      if (stored.sha256 !== file.sha256) throw new Error(`stage ${stage}: the stored object differs from the file`);
      if (one.warnings.length > 0) throw new Error(`stage ${stage}: warnings ${one.warnings.join(", ")}`);
      const mibps = SIZE_MIB / one.seconds;
      results[stage].push({ ...one, mibps });
      const copy = one.copiedAt === null ? "" : `, copy complete at ${fmt(one.copiedAt, 2)} s`;
      log(`staging: run ${r + 1}/${runs} stage ${stage.padEnd(4)} ${fmt(mibps).padStart(6)} MiB/s (${fmt(one.seconds, 2)} s${copy})`);
    }
  }
  const none = median(results.none.map((x) => x.mibps));
  const opfs = median(results.opfs.map((x) => x.mibps));
  const ratios = results.opfs.map((x, i) => x.mibps / results.none[i].mibps);
  const copied = results.opfs.filter((x) => x.copiedAt !== null);
  const copyShare = copied.length ? median(copied.map((x) => x.copiedAt / x.seconds)) : null;
  const markdown = [
    `A ${SIZE_MIB} MiB file of random bytes, 8 MiB parts, 4 in flight, checksums off; runs alternate; median of ${runs}. ` +
      "The ratio is the median of each run's staged speed over the unstaged run beside it.",
    "",
    "| stage | MiB/s | ratio to no copy | copy complete (share of the upload's time) |",
    "| --- | ---: | ---: | ---: |",
    `| none | ${fmt(none)} | 1.00 | – |`,
    `| opfs | ${fmt(opfs)} | ${fmt(median(ratios), 2)} | ${copyShare === null ? `not before the upload ended (${copied.length}/${runs})` : `${fmt(copyShare * 100)} % (${copied.length}/${runs} runs)`} |`,
  ].join("\n");
  return { markdown, json: { sizeMiB: SIZE_MIB, results, ratio: median(ratios), copyShare } };
}
