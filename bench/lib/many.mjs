// Many files at once (issue 13): the file sets (random bytes on disk, made
// once per bench run, picked through the page's <input type=file multiple>)
// and `runMany`, which runs one client over a whole set, counts its calls to
// the backend, and checks every stored object by SHA-256.

import fsp from "node:fs/promises";
import path from "node:path";

import { MIB, log, withTimeout } from "./util.mjs";

const KIB = 1024;

/** "256 KiB", "4 MiB", "1 GiB". */
export function sizeText(bytes) {
  if (bytes >= 1024 * MIB && bytes % (1024 * MIB) === 0) return `${bytes / (1024 * MIB)} GiB`;
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} B`;
}

/**
 * The file sets of the files section. `mixBigMiB`/`mixBigCount`: the big
 * files among the mix's small ones.
 */
export function fileSets({ mixBigMiB = 512, mixBigCount = 3 } = {}) {
  return {
    small: { id: "small", label: "1,000 × 256 KiB", groups: [{ count: 1000, size: 256 * KIB }] },
    medium: { id: "medium", label: "200 × 4 MiB", groups: [{ count: 200, size: 4 * MIB }] },
    mix: {
      id: "mix",
      label: `${mixBigCount} × ${sizeText(mixBigMiB * MIB)} among 500 × 256 KiB`,
      groups: [
        { count: 500, size: 256 * KIB },
        { count: mixBigCount, size: mixBigMiB * MIB, big: true },
      ],
      // the big files spread through the list, none first
      spread: true,
    },
  };
}

/**
 * Makes the files of `set` under `dir` (random bytes, each file its own),
 * answers { id, label, files: [{ path, name, size, sha256 }], totalBytes }
 * in upload order.
 */
export async function makeFileSet(dir, set) {
  const setDir = path.join(dir, `set-${set.id}`);
  await fsp.mkdir(setDir, { recursive: true });
  // Loaded here, not at the top: run.mjs sets the harness' file timeout
  // before anything loads it.
  const { makeRandomFile } = await import("../../tests/e2e/harness.mjs");
  const small = [];
  const big = [];
  let index = 0;
  for (const group of set.groups) {
    for (let i = 0; i < group.count; i++) {
      index += 1;
      const name = `${set.id}-${String(index).padStart(4, "0")}-${sizeText(group.size).replace(" ", "")}.bin`;
      const file = await makeRandomFile(setDir, name, group.size);
      (group.big ? big : small).push(file);
    }
  }
  let files;
  if (set.spread && big.length > 0) {
    // small files in runs of equal length, one big file after each run
    files = [];
    const run = Math.ceil(small.length / (big.length + 1));
    for (let i = 0; i <= big.length; i++) {
      files.push(...small.slice(i * run, (i + 1) * run));
      if (i < big.length) files.push(big[i]);
    }
  } else {
    files = [...small, ...big];
  }
  return { id: set.id, label: set.label, files, totalBytes: files.reduce((n, f) => n + f.size, 0) };
}

/**
 * Counts the page's requests until stop(), from CDP Network events on
 * `net`: calls to the backend (the dev server's /api/s3/… routes), uploads
 * to the store (PUT, POST, PATCH elsewhere), CORS preflights, and the most
 * uploads in flight at once (from being sent to their response, or their
 * failure: a client may send the next upload the moment a response
 * arrives, before the browser reports the finished one's loading done).
 */
export function trackCalls(net, backendOrigin) {
  let api = 0;
  let uploads = 0;
  let preflights = 0;
  let open = 0;
  let most = 0;
  const live = new Set();
  const onSent = ({ requestId, request }) => {
    const url = new URL(request.url);
    if (request.method === "OPTIONS") {
      preflights += 1;
      return;
    }
    if (url.origin === backendOrigin) {
      if (url.pathname.startsWith("/api/s3/")) api += 1;
      return;
    }
    if (["PUT", "POST", "PATCH"].includes(request.method)) {
      uploads += 1;
      live.add(requestId);
      open += 1;
      most = Math.max(most, open);
    }
  };
  const onEnd = ({ requestId }) => {
    if (live.delete(requestId)) open -= 1;
  };
  net.on("Network.requestWillBeSent", onSent);
  net.on("Network.responseReceived", onEnd);
  net.on("Network.loadingFinished", onEnd);
  net.on("Network.loadingFailed", onEnd);
  return {
    stop() {
      net.off("Network.requestWillBeSent", onSent);
      net.off("Network.responseReceived", onEnd);
      net.off("Network.loadingFinished", onEnd);
      net.off("Network.loadingFailed", onEnd);
      return { api, uploads, preflights, maxInFlight: most };
    },
  };
}

/** How long a whole set may take before it counts as hung. */
export function setTimeoutMs(set) {
  return 180_000 + (set.totalBytes / MIB) * 1000 + set.files.length * 500;
}

/**
 * Runs `client` over the page's picked files (`set`, picked already with
 * bench.setFiles) and checks every stored object. Never throws for the
 * client's own failure; returns
 *   { status: "ok" | "void" | "failed" | "n/a", seconds?, filesPerSecond?,
 *     mibps?, apiCalls?, callsPerFile?, uploads?, preflights?, maxInFlight?,
 *     notes: [], error?, reason? }
 */
export async function runMany(bench, client, { set, partSize, concurrency, threshold, tag }) {
  const tracker = trackCalls(bench.net, new URL(bench.stack.baseUrl).origin);
  let result;
  try {
    const args = { partSize, concurrency, threshold, tag, ...client.args(bench) };
    result = await withTimeout(
      bench.page.evaluate(({ page, args }) => window.benchClients[page](args), { page: client.page, args }),
      setTimeoutMs(set),
      `${client.id} uploading ${set.files.length} files`,
    );
  } catch (error) {
    const calls = tracker.stop();
    if (error.timeout) await bench.reopenPage();
    return { status: "failed", error: firstLine(error.message), notes: [], ...calls };
  }
  const calls = tracker.stop();
  if (result.unsupported) return { status: "n/a", reason: result.unsupported, notes: [] };
  const n = set.files.length;
  const out = {
    status: "ok",
    seconds: result.seconds,
    filesPerSecond: n / result.seconds,
    mibps: set.totalBytes / MIB / result.seconds,
    apiCalls: calls.api,
    callsPerFile: calls.api / n,
    uploads: calls.uploads,
    preflights: calls.preflights,
    preflightsPerFile: calls.preflights / n,
    maxInFlight: calls.maxInFlight,
    notes: [...(result.notes ?? [])],
  };
  const failed = result.failed ?? [];
  if (failed.length > 0) {
    out.status = "failed";
    out.error = `${failed.length} of ${n} files failed, first: ${failed[0].name}: ${firstLine(failed[0].error)}`;
  }
  // Every file stored once, byte-identical (or void); every object deleted.
  const byName = new Map();
  for (const o of result.objects ?? []) {
    if (byName.has(o.name)) {
      out.status = "void";
      out.error = `two objects reported for ${o.name}`;
    }
    byName.set(o.name, o.key);
  }
  const bad = [];
  let next = 0;
  const check = async () => {
    while (next < set.files.length) {
      const file = set.files[next++];
      const key = byName.get(file.name);
      if (!key) {
        if (!failed.some((f) => f.name === file.name)) bad.push(`${file.name}: no object reported`);
        continue;
      }
      try {
        const stored = await bench.checkS3(key);
        if (stored.sha256 !== file.sha256 || stored.size !== file.size) bad.push(`${file.name}: stored object differs (size ${stored.size} vs ${file.size})`);
      } catch (error) {
        bad.push(`${file.name}: could not check ${key}: ${firstLine(error.message)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, check));
  if (bad.length > 0) {
    out.status = "void";
    out.error = `${bad.length} of ${n} stored objects wrong or missing, first: ${bad[0]}`;
  }
  out.checked = byName.size;
  if (out.status !== "ok") log(`  ${client.id}: ${out.status}: ${out.error}`);
  return out;
}

function firstLine(text) {
  return String(text).split("\n")[0].slice(0, 300);
}
