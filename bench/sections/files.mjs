// Many files (issue 13): whole sets of files picked at once through the
// page's <input type=file multiple> and uploaded by each client,
// `concurrency` uploads at a time:
//   small   1,000 files of 256 KiB
//   medium  200 files of 4 MiB
//   mix     a few big files (512 MiB each by default, --mix-big) spread
//           among 500 files of 256 KiB
// Files up to --files-threshold (8 MiB) go as one upload each (the raw
// client and Uppy ask GET /api/s3/params for it), larger ones multipart
// with 8 MiB parts. Runs alternate between clients as in the throughput
// section; one unmeasured raw run of each set comes first (Garage stores
// identical blocks once). Every stored object is checked by SHA-256 (by the
// key the client reported) and deleted.
//
// Reported per client and set: files per second, MiB/s, calls to the
// backend per file (requests to /api/s3/…), CORS preflights per file, and
// the ratios to raw and to Uppy within each run.

import { FILES_CLIENTS } from "../clients/index.mjs";
import { fileSets, runMany, sizeText } from "../lib/many.mjs";
import { MIB, fmt, log, median } from "../lib/util.mjs";

export const id = "files";
export const title = "Many files";
export const needsBrowser = true;
export const enabledByDefault = true;

/** The many-files clients --only selects (all of them without --only; "uppy" selects every Uppy row). */
export function filesClients(opts, ids = null) {
  const chosen = ids ? FILES_CLIENTS.filter((c) => ids.includes(c.id)) : FILES_CLIENTS;
  return opts.only ? chosen.filter((c) => opts.only.includes(c.clientId ?? c.id)) : chosen;
}

/** What "× raw" and "× Uppy" compare with: raw's run, and the fastest Uppy row's run of the same round. */
export const BASES = { raw: ["raw"], uppy: FILES_CLIENTS.filter((c) => c.uppy).map((c) => c.id) };

export async function run(ctx) {
  const { bench, opts } = ctx;
  const defs = fileSets({ mixBigMiB: opts.mixBig, mixBigCount: opts.mixBigCount });
  const clients = filesClients(opts);
  const cases = [];
  for (const caseId of opts.filesCases) {
    const set = await ctx.fileSet(defs[caseId]);
    const runs = await measureSet(ctx, set, clients, { runs: opts.runs, section: "files" });
    cases.push({ set, runs });
  }
  return summarize(ctx, cases, clients);
}

/**
 * Uploads `set` with each of `clients`, `runs` times, runs alternating
 * between clients; `wrap(fn)` runs each measured upload (the link section
 * wraps it in an emulated link). Answers client id → [run results].
 */
export async function measureSet(ctx, set, clients, { runs, section, wrap = (fn) => fn(), warmUp = true }) {
  const { bench, opts } = ctx;
  await bench.setFiles(set.files.map((f) => f.path));
  const common = { set, partSize: ctx.partSize, concurrency: ctx.concurrency, threshold: opts.filesThreshold * MIB };
  if (warmUp) {
    const raw = FILES_CLIENTS.find((c) => c.id === "raw");
    log(`${section}: ${set.label}: warm-up (raw, not counted)`);
    const t0 = Date.now();
    const warm = await runMany(bench, raw, { ...common, tag: `warmup-${set.id}-${Date.now()}` });
    log(`${section}: ${set.label}: warm-up ${warm.status}${warm.error ? `: ${warm.error}` : ""} (${fmt((Date.now() - t0) / 1000)} s with the check)`);
  }
  const results = Object.fromEntries(clients.map((c) => [c.id, []]));
  for (let r = 0; r < runs; r++) {
    const order = clients.map((_, i) => clients[(i + r) % clients.length]);
    for (const client of order) {
      const result = await wrap(() => runMany(bench, client, { ...common, tag: `${client.id}-${set.id}-${r}-${Date.now()}` }));
      results[client.id].push({ run: r, ...result });
      log(
        `${section}: ${set.label} run ${r + 1}/${runs} ${client.id.padEnd(10)} ` +
          (result.status === "ok"
            ? `${fmt(result.filesPerSecond).padStart(6)} files/s ${fmt(result.mibps).padStart(6)} MiB/s (${fmt(result.seconds, 2)} s, ${fmt(result.callsPerFile, 2)} calls/file, ${fmt(result.preflights / set.files.length, 2)} preflights/file, ≤${result.maxInFlight} in flight)`
            : `${result.status}${result.reason ? ` (${result.reason})` : ""}${result.error ? `: ${result.error}` : ""}`),
      );
    }
  }
  return results;
}

/**
 * One client's runs of one set as a table cell: medians, and for each of
 * `bases` (name → client ids) the median of each run's files-per-second
 * ratio to the fastest of those clients' runs of the same round.
 */
export function cellOf(runs, allRuns, bases = BASES) {
  const cell = { runs };
  if (runs.length === 0) return { ...cell, shown: "–" };
  if (runs.some((r) => r.status === "void")) return { ...cell, shown: "void", error: runs.find((r) => r.status === "void").error };
  if (runs.every((r) => r.status === "n/a")) return { ...cell, shown: `n/a (${runs[0].reason})` };
  const bad = runs.find((r) => r.status !== "ok");
  if (bad) return { ...cell, shown: "failed", error: bad.error };
  cell.filesPerSecond = median(runs.map((r) => r.filesPerSecond));
  cell.mibps = median(runs.map((r) => r.mibps));
  cell.seconds = median(runs.map((r) => r.seconds));
  cell.callsPerFile = median(runs.map((r) => r.callsPerFile));
  cell.preflightsPerFile = median(runs.map((r) => r.preflightsPerFile));
  cell.maxInFlight = Math.max(...runs.map((r) => r.maxInFlight));
  cell.ratios = {};
  for (const [name, ids] of Object.entries(bases)) {
    const ratios = runs
      .map((r) => {
        const base = Math.max(...ids.flatMap((id) => (allRuns[id] ?? []).filter((b) => b.run === r.run && b.status === "ok").map((b) => b.filesPerSecond)));
        return base > 0 ? r.filesPerSecond / base : NaN;
      })
      .filter(Number.isFinite);
    cell.ratios[name] = ratios.length ? median(ratios) : NaN;
  }
  cell.shown = fmt(cell.filesPerSecond);
  return cell;
}

function summarize(ctx, cases, clients) {
  const { opts } = ctx;
  const head = ["files", "client", "files/s", "MiB/s", "× raw", "× Uppy", "backend calls per file", "preflights per file", "uploads in flight", "seconds"];
  const lines = [`| ${head.join(" | ")} |`, `| --- | --- | ${head.slice(2).map(() => "---:").join(" | ")} |`];
  const json = [];
  const notes = [];
  for (const { set, runs } of cases) {
    for (const client of clients) {
      const cell = cellOf(runs[client.id], runs);
      json.push({ set: set.id, label: set.label, files: set.files.length, totalBytes: set.totalBytes, client: client.id, ...cell });
      const ok = Number.isFinite(cell.filesPerSecond);
      const ratio = (other) => (Number.isFinite(cell.ratios?.[other]) ? fmt(cell.ratios[other], 2) : "–");
      lines.push(
        `| ${set.label} | ${client.label} | ${cell.shown} | ${ok ? fmt(cell.mibps) : "–"} | ${ok ? ratio("raw") : "–"} | ${ok ? ratio("uppy") : "–"} | ` +
          `${ok ? fmt(cell.callsPerFile, 2) : "–"} | ${ok ? fmt(cell.preflightsPerFile, 2) : "–"} | ${ok ? cell.maxInFlight : "–"} | ${ok ? fmt(cell.seconds, 1) : "–"} |`,
      );
      if (cell.error) notes.push(`${client.id}, ${set.label}: ${cell.error}`);
      for (const n of new Set(runs[client.id].flatMap((r) => r.notes ?? []))) notes.push(`${client.id}, ${set.label}: ${n}`);
    }
  }
  const threshold = opts.filesThreshold * MIB;
  const intro = [
    `Each set is made once (random bytes, each file its own) and picked at once through a hidden \`<input type=file multiple>\`; ${ctx.concurrency} uploads at a time for every client; ` +
      (threshold > 0
        ? `files up to ${sizeText(threshold)} go as one upload each (parameters from \`GET /api/s3/params\`), larger ones multipart with ${ctx.partSize / MIB} MiB parts. `
        : `every file multipart (--files-threshold=0), ${ctx.partSize / MIB} MiB parts. `) +
      `Median of ${opts.runs} run${opts.runs === 1 ? "" : "s"}; runs alternate between clients; "× raw" is the median of each run's files-per-second ratio to raw's run of the same round, "× Uppy" the same to the fastest Uppy row that completed in that round. ` +
      '"backend calls" are requests to the dev server\'s `/api/s3/…` routes; "preflights" are CORS OPTIONS requests the browser sent before uploads to the store (Chromium\'s emulated latency does not delay them; a real link does). ' +
      "One unmeasured raw run of each set came first (Garage stores identical blocks once). Every file's stored object was checked by SHA-256 (a mismatch or a missing object voids the row), then deleted.",
  ];
  const used = new Set(clients.map((c) => c.id));
  if (used.has("raw")) {
    notes.unshift(
      "raw: plain `fetch`, one pool of slots over the files in order: a small file is `GET /api/s3/params` then one PUT with exactly the answered headers; a big file's parts (create, sign each part when its slot opens, PUT, complete) take slots like small files do. No retries beyond one on a network error.",
    );
  }
  if (clients.some((c) => c.uppy)) {
    notes.unshift(
      `Uppy: \`limit: ${ctx.concurrency}\` (files at once; @uppy/aws-s3 6.x sends one part at a time per file), \`getChunkSize: () => ${ctx.partSize / MIB} MiB\`. ` +
        `"companionEndpoint (its small-file path)": \`companionEndpoint: <origin>/api\`, \`shouldUseMultipart: (file) => file.size > ${threshold}\`; its Companion client asks \`GET /s3/params\` and always sends a form POST with the answered \`fields\` (it throws unless \`fields.key\` is set), so against a backend that answers a presigned PUT every small file fails. ` +
        '"signRequest → /api/s3/params": Uppy\'s own PutObject path (an XHR PUT with the answered headers), signed by a `signRequest` function that asks the same route; only for sets without big files (a multipart upload through `signRequest` needs raw S3 requests signed). ' +
        '"every file multipart": `companionEndpoint`, `shouldUseMultipart: true` (create, sign, PUT, complete for each file).',
    );
  }
  if (used.has("resupload")) notes.unshift('resupload: `new UploadQueue({ endpoint: "/api/s3", concurrency: 4, checksum: "none" })`, `queue.add(files)`, `await queue.start()`.');
  return {
    markdown: `${intro.join("\n")}\n\n${lines.join("\n")}\n\n${notes.map((n) => `- ${n}`).join("\n")}`,
    json: { concurrency: ctx.concurrency, partSize: ctx.partSize, threshold, runs: opts.runs, rows: json },
  };
}
