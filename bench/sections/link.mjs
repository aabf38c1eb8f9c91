// Emulated links (issue 13): on loopback a signing round trip costs
// nothing; on a real link it costs a lot. Each upload here runs with
// Chromium's network emulation on the bench page (DevTools protocol
// `Network.emulateNetworkConditions`: a latency added to every request and
// a cap on the upload rate shared by all of the page's requests; downloads
// not throttled), set before the upload and removed after it
// (bench/lib/link.mjs). Links: --links (default 60 ms / 400 Mbit/s and
// 150 ms / 50 Mbit/s).
//
// Cases (--link-cases):
//   large  one file of --link-size MiB (128), 8 MiB parts, 4 in flight:
//          the single-file clients (raw, resupload, Uppy, tus; --only
//          narrows them), and a "ceiling" row: raw with every part's URL
//          signed before the clock starts (what the emulated link gives 4
//          PUTs at a time with nothing in between)
//   small  the 1,000 × 256 KiB set of the files section, its clients
//
// Reported: MiB/s and its share of the emulated link (MiB/s ÷ the link's
// MiB/s), medians of --link-runs runs (2), runs alternating between clients
// as in the throughput section, and the ratios to raw within each run.
// Every stored object is checked by SHA-256.

import { CLIENTS, runUpload } from "../clients/index.mjs";
import { withLink } from "../lib/link.mjs";
import { fileSets } from "../lib/many.mjs";
import { MIB, fmt, log, median, medianRatio } from "../lib/util.mjs";
import { cellOf, filesClients, measureSet } from "./files.mjs";

export const id = "link";
export const title = "Emulated links";
export const needsBrowser = true;
export const enabledByDefault = true;

/** The single-file clients of the large case (in table order). */
const LARGE_CLIENTS = ["raw", "resupload", "resupload-auto", "uppy", "tus"];

/**
 * The many-files clients of the small case: Uppy by its PutObject path (its
 * Companion small-file path fails against a backend that answers a PUT, and
 * multipart for every file takes minutes per run at 150 ms).
 */
const SMALL_CLIENTS = ["raw", "resupload", "resupload-auto", "uppy-put"];

/** raw with every part's URL signed before the clock starts. */
const CEILING = {
  id: "ceiling",
  page: "raw",
  label: "ceiling: raw fetch PUTs, every URL signed before the clock starts",
  store: "s3",
  args: () => ({ presign: true }),
};

export async function run(ctx) {
  const { opts } = ctx;
  const out = { markdown: [], json: { links: opts.links, runs: opts.linkRuns } };
  if (opts.linkCases.includes("large")) {
    const large = await runLarge(ctx);
    out.markdown.push(large.markdown);
    out.json.large = large.json;
  }
  if (opts.linkCases.includes("small")) {
    const small = await runSmall(ctx);
    out.markdown.push(small.markdown);
    out.json.small = small.json;
  }
  out.markdown.push(NOTES.map((n) => `- ${n}`).join("\n"));
  return { markdown: out.markdown.join("\n\n"), json: out.json };
}

async function runLarge(ctx) {
  const { bench, opts } = ctx;
  const clients = [...LARGE_CLIENTS.map((id) => ctx.clients.find((c) => c.id === id)).filter(Boolean), CEILING];
  const file = await ctx.randomFile(opts.linkSize);
  await bench.setFile(file.path);
  const raw = CLIENTS.find((c) => c.id === "raw");
  log(`link: ${opts.linkSize} MiB warm-up (raw, no emulation, not counted)`);
  const warm = await runUpload(bench, raw, { file, partSize: ctx.partSize, concurrency: ctx.concurrency, tag: `link-warmup-${Date.now()}` });
  if (warm.status !== "ok") log(`link: the warm-up upload ${warm.status}: ${warm.error ?? ""}`);

  const results = {}; // link id → client id → runs
  for (const link of opts.links) {
    results[link.id] = Object.fromEntries(clients.map((c) => [c.id, []]));
    for (let r = 0; r < opts.linkRuns; r++) {
      const order = clients.map((_, i) => clients[(i + r) % clients.length]);
      for (const client of order) {
        const result = await withLink(bench, link, () =>
          runUpload(bench, client, { file, partSize: ctx.partSize, concurrency: ctx.concurrency, tag: `link-${client.id}-${r}-${Date.now()}` }),
        );
        results[link.id][client.id].push({ run: r, ...result });
        log(
          `link: ${link.label}, ${opts.linkSize} MiB run ${r + 1}/${opts.linkRuns} ${client.id.padEnd(10)} ` +
            (result.status === "ok"
              ? `${fmt(result.mibps).padStart(6)} MiB/s = ${fmt(result.mibps / link.mibps, 2)} of the link (${fmt(result.seconds, 2)} s, ≤${result.maxInFlight} in flight)`
              : `${result.status}${result.reason ? ` (${result.reason})` : ""}${result.error ? `: ${result.error}` : ""}`),
        );
      }
    }
  }

  const head = ["client", ...opts.links.flatMap((l) => [`MiB/s (${l.label} = ${fmt(l.mibps)} MiB/s)`, "share of the link", "× raw"]), "parts in flight"];
  const lines = [`| ${head.join(" | ")} |`, `| --- | ${head.slice(1).map(() => "---:").join(" | ")} |`];
  const rows = [];
  const notes = [];
  for (const client of clients) {
    const row = { id: client.id, label: client.label, links: {} };
    const cells = [client.label];
    let inFlight = -Infinity;
    for (const link of opts.links) {
      const runs = results[link.id][client.id];
      const cell = singleCell(runs, results[link.id].raw ?? []);
      cell.share = cell.mibps / link.mibps;
      row.links[link.id] = cell;
      if (Number.isFinite(cell.mibps)) {
        cells.push(runs.length > 1 ? `${fmt(cell.mibps)} (${fmt(cell.min)}–${fmt(cell.max)})` : fmt(cell.mibps), fmt(cell.share, 2), client.id === "raw" ? "1.00" : fmt(cell.ratio, 2));
        inFlight = Math.max(inFlight, cell.maxInFlight);
      } else {
        cells.push(cell.shown, "–", "–");
      }
      for (const n of new Set(runs.flatMap((x) => [...(x.notes ?? []), ...(x.error ? [x.error] : [])]))) notes.push(`${client.id}, ${link.label}: ${n}`);
    }
    cells.push(Number.isFinite(inFlight) ? String(inFlight) : "–");
    lines.push(`| ${cells.join(" | ")} |`);
    rows.push(row);
  }
  const intro =
    `**One file of ${opts.linkSize} MiB** (random bytes), ${ctx.partSize / MIB} MiB parts, ${ctx.concurrency} at a time; ` +
    (opts.linkRuns === 1 ? "one run per client, " : `median of ${opts.linkRuns} runs (lowest–highest in brackets), `) +
    "runs alternating between clients; " +
    '"share of the link" is MiB/s ÷ the emulated upload rate; "× raw" the median of each run\'s ratio to raw\'s run of the same round. One unmeasured raw upload without emulation came first.';
  return {
    markdown: [intro, "", ...lines, ...(notes.length ? ["", ...notes.map((n) => `- ${n}`)] : [])].join("\n"),
    json: { sizeMiB: opts.linkSize, rows },
  };
}

function singleCell(runs, rawRuns) {
  const cell = { runs };
  if (runs.some((r) => r.status === "void")) return { ...cell, shown: "void" };
  if (runs.length && runs.every((r) => r.status === "n/a")) return { ...cell, shown: `n/a (${runs[0].reason})` };
  if (!runs.length || runs.some((r) => r.status !== "ok")) return { ...cell, shown: "failed" };
  cell.mibps = median(runs.map((r) => r.mibps));
  cell.min = Math.min(...runs.map((r) => r.mibps));
  cell.max = Math.max(...runs.map((r) => r.mibps));
  cell.maxInFlight = Math.max(...runs.map((r) => r.maxInFlight));
  cell.ratio = medianRatio(runs, rawRuns);
  return cell;
}

async function runSmall(ctx) {
  const { opts } = ctx;
  const set = await ctx.fileSet(fileSets().small);
  const clients = filesClients(opts, SMALL_CLIENTS);
  const results = {};
  let first = true;
  for (const link of opts.links) {
    results[link.id] = await measureSet(ctx, set, clients, {
      runs: opts.linkRuns,
      section: `link ${link.label}`,
      wrap: (fn) => withLink(ctx.bench, link, fn),
      warmUp: first,
    });
    first = false;
  }
  const head = ["client", ...opts.links.flatMap((l) => [`files/s (${l.label})`, "MiB/s", "share of the link", "× raw", "× Uppy"]), "backend calls per file"];
  const lines = [`| ${head.join(" | ")} |`, `| --- | ${head.slice(1).map(() => "---:").join(" | ")} |`];
  const rows = [];
  const notes = [];
  for (const client of clients) {
    const cells = [client.label];
    const row = { id: client.id, label: client.label, links: {} };
    let calls = NaN;
    for (const link of opts.links) {
      const cell = cellOf(results[link.id][client.id], results[link.id]);
      row.links[link.id] = { ...cell, share: cell.mibps / link.mibps };
      if (Number.isFinite(cell.filesPerSecond)) {
        const ratio = (other) => fmt(cell.ratios[other], 2);
        cells.push(fmt(cell.filesPerSecond), fmt(cell.mibps), fmt(cell.mibps / link.mibps, 2), ratio("raw"), ratio("uppy"));
        calls = cell.callsPerFile;
      } else {
        cells.push(cell.shown, "–", "–", "–", "–");
      }
      if (cell.error) notes.push(`${client.id}, ${link.label}: ${cell.error}`);
    }
    cells.push(Number.isFinite(calls) ? fmt(calls, 2) : "–");
    lines.push(`| ${cells.join(" | ")} |`);
    rows.push(row);
  }
  const intro =
    `**${set.label}** (the files section's set), ${ctx.concurrency} uploads at a time, each file one upload (files up to ${opts.filesThreshold} MiB); median of ${opts.linkRuns} run${opts.linkRuns === 1 ? "" : "s"}, runs alternating; ` +
    "ratios are medians of each run's files-per-second ratio within the same round. One unmeasured raw run without emulation came first.";
  return {
    markdown: [intro, "", ...lines, ...(notes.length ? ["", ...notes.map((n) => `- ${n}`)] : [])].join("\n"),
    json: { set: set.label, rows },
  };
}

const NOTES = [
  "The emulation is Chromium's own (`Network.emulateNetworkConditions` on a DevTools session of the bench page: upload throughput capped, downloads not; set before each upload, removed after it); Garage and the dev server are still on loopback. Measured here: the latency is added once per request before its response (a 1 KiB PUT took the latency + 7–11 ms; a throttled 16 MiB PUT at 400 Mbit/s took 130–360 ms longer with 60–300 ms latency than with none, a 4 MiB PUT at 50 Mbit/s 60–290 ms longer); the upload cap is shared by all the page's requests, and throttles Blob bodies of fetch and XMLHttpRequest alike.",
  "Not a real link: CORS preflights (OPTIONS) are not delayed, so a PUT to a new presigned URL costs one round trip here where a real link costs two; and one request alone does not fill the emulated 400 Mbit/s link on this machine (a single 1–48 MiB PUT: 0.45–0.69 of it; four at once: 0.86–0.90; at 50 Mbit/s 0.84–0.94 alone, 0.95–0.98 four at once). Clients that send one part at a time (Uppy 6 for one file, tus-js-client without the concatenation extension) are held back by that here more than a real link would hold them.",
];
