// Throughput: every client uploads the same file (random bytes on disk,
// picked through the file input), 8 MiB parts, 4 at a time, `runs` times per
// size; runs alternate between clients (round robin, the starting client
// rotating each run). Each upload's stored bytes are checked by SHA-256.
// A row shows the median MiB/s and the median of its per-run ratios to the
// raw baseline of the same run.

import os from "node:os";

import { CLIENTS, runUpload } from "../clients/index.mjs";
import { MIB, fmt, log, median, medianRatio } from "../lib/util.mjs";

export const id = "throughput";
export const title = "Throughput";
export const needsBrowser = true;
export const enabledByDefault = true;

export async function run(ctx) {
  const { bench, opts, clients } = ctx;
  const raw = CLIENTS.find((c) => c.id === "raw");
  const results = {}; // size → client id → [run results]
  for (const sizeMiB of opts.sizes) {
    const file = await ctx.randomFile(sizeMiB);
    await bench.setFile(file.path);
    results[sizeMiB] = Object.fromEntries(clients.map((c) => [c.id, []]));

    // One unmeasured upload first: Garage keeps one copy of identical data
    // blocks, so the first upload of these bytes is the only one that writes
    // them; after this one every measured upload finds the same store state.
    log(`throughput: ${sizeMiB} MiB warm-up (raw, not counted)`);
    const warm = await runUpload(bench, raw, { file, partSize: ctx.partSize, concurrency: ctx.concurrency, tag: `warmup-${sizeMiB}` });
    if (warm.status !== "ok") log(`throughput: the warm-up upload ${warm.status}: ${warm.error ?? ""}`);

    for (let r = 0; r < opts.runs; r++) {
      const order = clients.map((_, i) => clients[(i + r) % clients.length]);
      for (const client of order) {
        const result = await runUpload(bench, client, {
          file,
          partSize: ctx.partSize,
          concurrency: ctx.concurrency,
          tag: `${client.id}-${sizeMiB}-${r}-${Date.now()}`,
        });
        results[sizeMiB][client.id].push({ run: r, ...result });
        log(
          `throughput: ${sizeMiB} MiB run ${r + 1}/${opts.runs} ${client.id.padEnd(16)} ` +
            (result.status === "ok"
              ? `${fmt(result.mibps).padStart(6)} MiB/s  (${fmt(result.seconds, 2)} s, ≤${result.maxInFlight} in flight)`
              : `${result.status}${result.reason ? ` (${result.reason})` : ""}${result.error ? `: ${result.error}` : ""}`),
        );
      }
    }
  }
  return summarize(ctx, results);
}

/**
 * Medians, ratios, the markdown table and the JSON, from `results` (size →
 * client id → the runs' results, as runUpload gives them).
 */
export function summarize(ctx, results) {
  const { opts, clients } = ctx;
  const rows = [];
  for (const client of clients) {
    const row = { id: client.id, label: client.label, sizes: {} };
    for (const sizeMiB of opts.sizes) {
      const runs = results[sizeMiB][client.id];
      const rawRuns = results[sizeMiB].raw ?? [];
      const cell = { runs };
      const statuses = new Set(runs.map((r) => r.status));
      if (statuses.has("void")) {
        cell.shown = "void";
      } else if (runs.every((r) => r.status === "n/a")) {
        cell.shown = `n/a (${runs[0]?.reason ?? "n/a"})`;
      } else if (runs.some((r) => r.status !== "ok")) {
        const bad = runs.find((r) => r.status !== "ok");
        cell.shown = `failed (${bad.status}${bad.reason ? `: ${bad.reason}` : ""})`;
      } else {
        cell.mibps = median(runs.map((r) => r.mibps));
        cell.ratio = medianRatio(runs, rawRuns);
        cell.maxInFlight = Math.max(...runs.map((r) => r.maxInFlight));
        cell.min = Math.min(...runs.map((r) => r.mibps));
        cell.max = Math.max(...runs.map((r) => r.mibps));
        const d = cell.max < 20 ? 1 : 0;
        cell.shown = runs.length > 1 ? `${fmt(cell.mibps)} (${fmt(cell.min, d)}–${fmt(cell.max, d)})` : fmt(cell.mibps);
      }
      row.sizes[sizeMiB] = cell;
    }
    rows.push(row);
  }

  const head = ["client", ...opts.sizes.flatMap((s) => [`MiB/s (${sizeLabel(s)})`, "× raw"]), "parts in flight"];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`];
  for (const row of rows) {
    const cells = [row.label];
    for (const s of opts.sizes) {
      const c = row.sizes[s];
      cells.push(c.shown, Number.isFinite(c.ratio) ? fmt(c.ratio, 2) : "–");
    }
    const inFlight = Math.max(...opts.sizes.map((s) => row.sizes[s].maxInFlight ?? -Infinity));
    cells.push(Number.isFinite(inFlight) ? String(inFlight) : "–");
    lines.push(`| ${cells.join(" | ")} |`);
  }

  const notes = [];
  notes.push(
    `Same file bytes for everyone (random, on disk, picked through a hidden \`<input type=file>\`), ${ctx.partSize / MIB} MiB parts, ${ctx.concurrency} at a time (as configured; "parts in flight" is the most part uploads the browser had open at once, as seen by the bench). ` +
      `Median of ${opts.runs} run${opts.runs === 1 ? "" : "s"} per client and size${opts.runs > 1 ? " (lowest–highest run in brackets)" : ""}; runs alternate between clients, the first client rotating each run; "× raw" is the median of each run's ratio to the raw baseline of the same run. ` +
      "Every upload's stored bytes were checked by SHA-256 against the file (a mismatch voids the row), then deleted. One unmeasured raw upload of each size came first (Garage stores identical blocks once).",
  );
  notes.push(
    `Garage, the dev server, Chromium, the tus server and the bench share this machine's ${os.cpus().length} cores (with whatever else runs on it): compare medians with the ranges in mind.`,
  );
  const used = new Set(ctx.clients.map((c) => c.id));
  if (used.has("uppy")) {
    notes.push(
      "Uppy: `companionEndpoint: <origin>/api` (the dev server's Companion routes), `shouldUseMultipart: true`, `getChunkSize: () => 8 MiB`, `limit: 4`. In @uppy/aws-s3 6.x `limit` is how many *files* upload at once and one file's parts go one after another (its S3Uploader awaits each part), so a single file has one part in flight.",
    );
  }
  if (used.has("lib-storage")) {
    notes.push(
      "lib-storage: `new Upload({ client, params: { Bucket, Key, Body: file }, queueSize: 4, partSize: 8 MiB })` over `new S3Client({ endpoint: <Garage>, region: \"garage\", forcePathStyle: true, requestChecksumCalculation: \"WHEN_REQUIRED\" })`, with the bucket's key in the page. It reads the File through `file.stream()` into 8 MiB buffers and sends those (not Blob slices), and the SDK hashes each of those bodies with SHA-256 for its SigV4 signature (`x-amz-content-sha256`). Byte-array request bodies ran about 10× slower than Blob bodies in Chromium on this machine before (13 vs 181 MiB/s for the same bytes); the bench does not separate that from the hashing.",
    );
  }
  if (used.has("tus")) notes.push(`tus: ${ctx.bench.tus.note}; \`chunkSize\` 8 MiB; the stored file was hashed on disk.`);
  for (const row of rows) {
    for (const s of opts.sizes) {
      const c = row.sizes[s];
      const extra = new Set(c.runs.flatMap((r) => [...(r.notes ?? []), ...(r.error ? [r.error] : [])]));
      for (const n of extra) notes.push(`${row.id}, ${sizeLabel(s)}: ${n}`);
      if (row.id === "resupload" && c.runs.some((r) => r.checksummed > 0)) notes.push(`resupload (checksum "none"), ${sizeLabel(s)}: some requests carried a checksum`);
      const ok = c.runs.filter((r) => r.status === "ok");
      if (row.id === "resupload-sha256" && ok.length) {
        notes.push(`resupload-sha256, ${sizeLabel(s)}: ${ok.map((r) => `${r.checksummedUploads} of ${r.puts}`).join(", ")} part uploads (per run) went with a SHA-256 checksum (a header or a signed URL naming one; Garage checks such a digest against the bytes).`);
      }
    }
  }

  return {
    markdown: `${lines.join("\n")}\n\n${notes.map((n) => `- ${n}`).join("\n")}`,
    json: { partSize: ctx.partSize, concurrency: ctx.concurrency, runs: opts.runs, sizesMiB: opts.sizes, rows },
  };
}

function sizeLabel(sizeMiB) {
  return sizeMiB % 1024 === 0 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`;
}
