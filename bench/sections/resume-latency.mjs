// Resume latency at 10,000 parts: from `start()` on a freshly loaded page to
// the first part request on the wire (the `send()` of its XMLHttpRequest),
// with a stored record of 10,000 parts of which half are done, and the
// backend answered locally (bench/lib/fake-backend.mjs, so the figure is
// resupload's own work: IndexedDB, the list's 5,000 entries, reconciling,
// the first part's state write, signing and, with checksums, hashing it).
//
// The file is sparse (10,000 × 8 MiB of zeros, made instantly). Set-up: a
// first run creates the upload (record of 10,000 parts) and is paused at its
// first PUT; the fake backend then holds parts 1..5,000; a second run (on a
// reloaded page) adopts them, so the stored record has half its parts done.
// Then each measured run reloads the page, starts, and is paused at its
// first PUT. Both with checksums off and on ("sha256": the list carries each
// part's checksum, and the verified resume re-hashes the held parts beside
// the sending; the first request waits for its own part's hash).
// `--resume-trace` prints what the last resume of each waited on, and the
// medians of three phases of the measured resumes (lib/page-trace.mjs).
// `--resume-link` measures the resumes on an emulated link (lib/link.mjs:
// its latency is added to each request, the backend's included), where a
// round trip more or less on the resume's path shows.


import { zeroChecksum } from "../lib/fake-backend.mjs";
import { measuredStart, pause, startToFirstPut, waitForBackend, withHeldBackend } from "../lib/first-put.mjs";
import { traceMilestones } from "../lib/page-trace.mjs";
import { fmt, log, median } from "../lib/util.mjs";

export const id = "resume-latency";
export const title = "Resume latency at 10,000 parts";
export const needsBrowser = true;
export const enabledByDefault = true;

const PARTS = 10_000;
const HELD = 5_000;

export async function run(ctx) {
  const { bench, opts } = ctx;
  const part = ctx.partSize;
  const runs = Math.max(3, opts.runs ?? 3) + 2;
  const rows = await withHeldBackend(bench, PARTS, part, async ({ file, fake, endpoint }) => {
    const rows = [];
    for (const checksum of ["none", "sha256"]) {
      const options = { namespace: `resume-latency-${checksum}`, partSize: part, concurrency: ctx.concurrency, checksum };
      // The upload: created, stopped at its first PUT.
      await bench.reopenPage();
      await bench.setFile(file);
      fake.puts.length = 0;
      const createMs = await startToFirstPut(bench.page, endpoint, options);
      // Paused only once the request reached the backend (an XHR aborted
      // right after send() may never leave the browser).
      const uploadId = (await waitForBackend(() => fake.puts[0])).uploadId;
      await pause(bench.page);
      fake.releaseHeld();
      fake.holdParts(uploadId, HELD, part, zeroChecksum(part));
      // The first resume adopts the 5,000 parts the backend holds.
      await bench.reopenPage();
      const adoptMs = await startToFirstPut(bench.page, endpoint, options);
      await pause(bench.page);
      fake.releaseHeld();
      // Measured: a record of 10,000 parts, half done.
      const times = [];
      const milestones = [];
      for (let i = 0; i < runs; i++) {
        await bench.reopenPage();
        const traced = i === runs - 1 ? `resume trace (checksum ${checksum})` : null;
        times.push(await measuredStart(bench, opts, endpoint, options, traced));
        if (opts.resumeTrace) milestones.push(await bench.page.evaluate(traceMilestones));
        await pause(bench.page);
        fake.releaseHeld();
      }
      const pending = await bench.page.evaluate(
        async (namespace) => (await window.bench.Lookups.listPending({ namespace })).map((p) => ({ partsDone: p.partsDone, partsTotal: p.partsTotal })),
        options.namespace,
      );
      if (pending.length !== 1 || pending[0].partsTotal !== PARTS || pending[0].partsDone < HELD) {
        throw new Error(`the stored record is not the one measured: ${JSON.stringify(pending)}`);
      }
      await bench.page.evaluate((namespace) => window.bench.Lookups.clearPending({ namespace }), options.namespace);
      log(`resume latency (checksum ${checksum}): create ${fmt(createMs)} ms, adopt ${fmt(adoptMs)} ms, resumes ${times.map((t) => fmt(t)).join(", ")} ms`);
      rows.push({ checksum, createMs, adoptMs, times, median: median(times), max: Math.max(...times), phases: phases(milestones, times) });
    }
    return rows;
  });
  const markdown = [
    `A stored record of ${PARTS.toLocaleString("en")} parts (8 MiB each, a sparse file), ${HELD.toLocaleString("en")} of them done; the backend answered locally` +
      (opts.resumeLink ? `, the resumes on an emulated link (${opts.resumeLink.label}). ` : ". ") +
      `Time from \`start()\` on a freshly loaded page to the first part request's \`send()\`; median of ${runs} resumes (goal: under 50 ms).`,
    "",
    "| checksum | resume: median | max | first start (creates the 10,000-part record) | first resume (adopts 5,000 parts) |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.checksum} | ${fmt(r.median)} ms | ${fmt(r.max)} ms | ${fmt(r.createMs)} ms | ${fmt(r.adoptMs)} ms |`),
    ...(opts.resumeTrace ? ["", ...phasesTable(rows)] : []),
  ].join("\n");
  return { markdown, json: rows };
}

/** Medians of each phase of the traced resumes, in ms. */
function phases(milestones, times) {
  const of = (fn) => {
    const values = milestones.map(fn).filter((v) => Number.isFinite(v));
    return values.length ? median(values) : null;
  };
  return {
    beforeList: of((m) => m.list),
    listToSign: of((m) => m.sign - m.list),
    signToPut: of((m, i) => times[i] - m.sign),
  };
}

function phasesTable(rows) {
  const ms = (v) => (v == null ? "–" : `${fmt(v)} ms`);
  return [
    "Phases of the same resumes (`--resume-trace`, medians): up to the part list's request (the store, the lock, the housekeeping, the sweep); from it to the first part's signing request (the list's answer, reconciling, the resume's write and, with checksums, the first part's hash); from that to the first part request (its signing and state write).",
    "",
    "| checksum | start → part list asked | → first part's URL asked | → first part request |",
    "| --- | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.checksum} | ${ms(r.phases.beforeList)} | ${ms(r.phases.listToSign)} | ${ms(r.phases.signToPut)} |`),
  ];
}
