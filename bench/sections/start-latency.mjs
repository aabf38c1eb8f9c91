// Start latency: from `start()` on a freshly loaded page to the first part
// request of a fresh upload on the wire (the `send()` of its
// XMLHttpRequest), with the backend answered locally
// (bench/lib/fake-backend.mjs). On that path: the store, the lock, the
// create round trip and the record's first write, the first part's
// signing and state write, and with checksums its hash (which the driver
// does while the upload is created: src/driver/head_start.rs).
//
// The file is sparse (8 parts of zeros, made instantly). Each run reloads
// the page, starts a fresh upload in a namespace of its own, is paused at
// its first PUT and forgotten (`clearPending`). `--resume-link` runs the
// measured starts on an emulated link (lib/link.mjs), where a round trip
// more or less shows; on loopback the create takes a few ms.
// `--resume-trace` prints what the last start of each case waited on
// (lib/page-trace.mjs).


import { measuredStart, pause, waitForBackend, withHeldBackend } from "../lib/first-put.mjs";
import { fmt, log, median } from "../lib/util.mjs";

export const id = "start-latency";
export const title = "Start latency of a fresh upload";
export const needsBrowser = true;
export const enabledByDefault = true;

const PARTS = 8;

export async function run(ctx) {
  const { bench, opts } = ctx;
  const part = ctx.partSize;
  const runs = Math.max(3, opts.runs ?? 3) + 2;
  const rows = await withHeldBackend(bench, PARTS, part, async ({ file, fake, endpoint }) => {
    const rows = [];
    for (const checksum of ["none", "sha256"]) {
      const times = [];
      for (let i = 0; i < runs; i++) {
        const options = { namespace: `start-latency-${checksum}-${i}`, partSize: part, concurrency: ctx.concurrency, checksum };
        await bench.reopenPage();
        await bench.setFile(file);
        fake.puts.length = 0;
        const traced = i === runs - 1 ? `start trace (checksum ${checksum})` : null;
        times.push(await measuredStart(bench, opts, endpoint, options, traced));
        // Paused only once the request reached the backend (an XHR aborted
        // right after send() may never leave the browser).
        await waitForBackend(() => fake.puts[0]);
        await pause(bench.page);
        fake.releaseHeld();
        await bench.page.evaluate((namespace) => window.bench.Lookups.clearPending({ namespace }), options.namespace);
      }
      log(`start latency (checksum ${checksum}): ${times.map((t) => fmt(t)).join(", ")} ms`);
      rows.push({ checksum, times, median: median(times), max: Math.max(...times) });
    }
    return rows;
  });
  const markdown = [
    `A fresh upload of ${PARTS} parts (${fmt(part / 2 ** 20)} MiB each, a sparse file); the backend answered locally` +
      (opts.resumeLink ? `, the starts on an emulated link (${opts.resumeLink.label}). ` : ". ") +
      `Time from \`start()\` on a freshly loaded page to the first part request's \`send()\`; median of ${runs} starts.`,
    "",
    "| checksum | start: median | max |",
    "| --- | ---: | ---: |",
    ...rows.map((r) => `| ${r.checksum} | ${fmt(r.median)} ms | ${fmt(r.max)} ms |`),
  ].join("\n");
  return { markdown, json: rows };
}
