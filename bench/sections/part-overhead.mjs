// Per-part bookkeeping overhead: the time each confirmed part spends in
// resupload's own state writes (IndexedDB, before the part is sent and once
// it is confirmed, each awaited), as the library reports it through its
// `onPartBookkeeping` telemetry callback (timed with performance.now()).
//
// Two scales, with the backend and the "store" answered locally
// (bench/lib/fake-backend.mjs) and sparse files of zeros, checksums off
// (hashing is not bookkeeping):
// - a 2 GiB file: 256 parts of 8 MiB, every part;
// - a record of 10,000 parts with 5,000 done (set up as in the resume
//   latency section): the first 400 parts sent after resuming.

import fsp from "node:fs/promises";
import path from "node:path";

import { startFakeBackend } from "../lib/fake-backend.mjs";
import { fmt, log, median, sleep } from "../lib/util.mjs";

export const id = "part-overhead";
export const title = "Per-part bookkeeping overhead";
export const needsBrowser = true;
export const enabledByDefault = true;

/** Runs an upload in the page until it completes or `limit` parts are
 *  confirmed; answers each confirmed part's bookkeeping time (ms). */
async function bookkeeping(page, endpoint, options, limit) {
  return page.evaluate(
    async ({ endpoint, options, limit }) => {
      const times = [];
      let upload;
      const enough = new Promise((resolve) => {
        upload = new window.bench.Upload(window.bench.file, {
          endpoint,
          ...options,
          onPartBookkeeping: ({ ms, blockingMs }) => {
            times.push([ms, blockingMs]);
            if (times.length >= limit) resolve();
          },
        });
      });
      const run = upload.start().catch((e) => e);
      const ended = await Promise.race([run, enough.then(() => null)]);
      if (ended && ended.code) throw new Error(`the upload failed: ${ended.code} ${ended.message}`);
      upload.pause();
      await run;
      return times;
    },
    { endpoint, options, limit },
  );
}

async function sparse(file, size) {
  const handle = await fsp.open(file, "w");
  await handle.truncate(size);
  await handle.close();
}

function stats(times) {
  const summary = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
    return { median: median(xs), p99: at(0.99), max: sorted.at(-1) };
  };
  return { parts: times.length, writes: summary(times.map((t) => t[0])), blocking: summary(times.map((t) => t[1])) };
}

export async function run(ctx) {
  const { bench } = ctx;
  const part = ctx.partSize;
  const fake = await startFakeBackend();
  const endpoint = `${fake.url}/api/s3`;
  const dir = bench.stack.filesDir;
  const rows = [];
  try {
    // 256 parts, all of them.
    const small = path.join(dir, "sparse-256-parts.bin");
    await sparse(small, 256 * part);
    await bench.reopenPage();
    await bench.setFile(small);
    const options = { partSize: part, concurrency: ctx.concurrency, checksum: "none" };
    const all = await bookkeeping(bench.page, endpoint, { ...options, namespace: "part-overhead-256" }, 256);
    rows.push({ label: "2 GiB file, 256 parts: every part", ...stats(all) });

    // 10,000 parts, half done: the next 400.
    const big = path.join(dir, "sparse-10000-parts.bin");
    await sparse(big, 10_000 * part);
    await bench.reopenPage();
    await bench.setFile(big);
    const bigOptions = { ...options, namespace: "part-overhead-10000" };
    // Created (a record of 10,000 parts) and stopped at its first part.
    fake.holdPuts = true;
    fake.puts.length = 0;
    await bench.page.evaluate(
      ({ endpoint, options }) => {
        window.benchUpload = new window.bench.Upload(window.bench.file, { endpoint, ...options });
        window.benchRun = window.benchUpload.start().catch((e) => e);
      },
      { endpoint, options: bigOptions },
    );
    for (let i = 0; i < 1000 && fake.puts.length === 0; i++) await sleep(10);
    if (!fake.puts.length) throw new Error("the 10,000-part upload sent no part");
    await bench.page.evaluate(async () => {
      window.benchUpload.pause();
      await window.benchRun;
    });
    fake.releaseHeld();
    fake.holdPuts = false;
    fake.holdParts(fake.puts[0].uploadId, 5_000, part);
    await bench.reopenPage();
    const next = await bookkeeping(bench.page, endpoint, bigOptions, 400);
    rows.push({ label: "10,000-part record, 5,000 done: the next 400 parts", ...stats(next) });
    await bench.page.evaluate((namespace) => window.bench.Lookups.clearPending({ namespace }), bigOptions.namespace);
  } finally {
    // The page keeps its file picked across reloads: forget it first.
    bench.currentFile = null;
    for (const name of ["sparse-256-parts.bin", "sparse-10000-parts.bin"]) await fsp.rm(path.join(dir, name), { force: true });
    fake.releaseHeld();
    await fake.stop();
  }
  for (const r of rows) {
    log(`part overhead: ${r.label}: writes median ${fmt(r.writes.median, 2)} ms, blocking median ${fmt(r.blocking.median, 2)} ms`);
  }
  const ms = (x) => `${fmt(x, 2)} ms`;
  const markdown = [
    "Each confirmed part's bookkeeping, as the library reports it through its `onPartBookkeeping` telemetry (performance.now()): " +
      "**state writes**, its two IndexedDB writes (before it is sent, once it is confirmed), each awaited until stored; " +
      "**blocking**, how much of that its request waited for (the first write runs beside the signing of the part's URL, the second after its sending slot is handed on). " +
      "Backend answered locally, checksums off (goal: under 1 ms median).",
    "",
    "| case | parts | state writes: median | p99 | blocking: median | p99 | max |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) => `| ${r.label} | ${r.parts} | ${ms(r.writes.median)} | ${ms(r.writes.p99)} | ${ms(r.blocking.median)} | ${ms(r.blocking.p99)} | ${ms(r.blocking.max)} |`,
    ),
  ].join("\n");
  return { markdown, json: rows };
}
