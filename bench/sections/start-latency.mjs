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

import fsp from "node:fs/promises";

import { holdingBackend, pause, sparseFile, startToFirstPut, waitForBackend } from "../lib/first-put.mjs";
import { withLink } from "../lib/link.mjs";
import { installTrace, takeTrace } from "../lib/page-trace.mjs";
import { fmt, log, median, sleep } from "../lib/util.mjs";

export const id = "start-latency";
export const title = "Start latency of a fresh upload";
export const needsBrowser = true;
export const enabledByDefault = true;

const PARTS = 8;

export async function run(ctx) {
  const { bench, opts } = ctx;
  const part = ctx.partSize;
  const runs = Math.max(3, opts.runs ?? 3) + 2;
  const file = await sparseFile(bench, PARTS, part);
  const { fake, endpoint } = await holdingBackend();
  const rows = [];
  try {
    for (const checksum of ["none", "sha256"]) {
      const times = [];
      for (let i = 0; i < runs; i++) {
        const options = { namespace: `start-latency-${checksum}-${i}`, partSize: part, concurrency: ctx.concurrency, checksum };
        await bench.reopenPage();
        await bench.setFile(file);
        if (opts.resumeTrace) await bench.page.evaluate(installTrace);
        await sleep(200);
        fake.puts.length = 0;
        const start = () => startToFirstPut(bench.page, endpoint, options);
        times.push(await (opts.resumeLink ? withLink(bench, opts.resumeLink, start) : start()));
        if (opts.resumeTrace && i === runs - 1) {
          log(`start trace (checksum ${checksum}):\n${await bench.page.evaluate(takeTrace)}`);
        }
        // Paused only once the request reached the backend (an XHR aborted
        // right after send() may never leave the browser).
        await waitForBackend(() => fake.puts[0]);
        await pause(bench.page);
        fake.releaseHeld();
        await bench.page.evaluate((namespace) => window.bench.Upload.clearPending({ namespace }), options.namespace);
      }
      log(`start latency (checksum ${checksum}): ${times.map((t) => fmt(t)).join(", ")} ms`);
      rows.push({ checksum, times, median: median(times), max: Math.max(...times) });
    }
  } finally {
    fake.releaseHeld();
    await fake.stop();
    bench.currentFile = null;
    await fsp.rm(file, { force: true });
  }
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
