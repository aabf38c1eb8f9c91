// The upload clients the bench compares, and how one upload is run and
// checked. Each client's page code is bench/clients/<page>.js (bundled by
// esbuild into bench/dist/page-<page>.js; it sets window.benchClients[<page>]
// to `async (args) => ({ seconds, key } | { seconds, url } | { unsupported })`).

import fs from "node:fs";
import path from "node:path";

import { REPO } from "../lib/stack.mjs";
import { MIB, withTimeout } from "../lib/util.mjs";

function version(pkg) {
  try {
    return JSON.parse(fs.readFileSync(path.join(REPO, "node_modules", pkg, "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
}

/**
 * Every client, in table order. `args(bench)` gives the page function its
 * client-specific arguments; `onlyWhenNamed` clients run only when `--only`
 * names them; `store` is where the object lands ("s3": the
 * Garage bucket, checked and deleted by key; "tus": the tus server's files).
 */
export const CLIENTS = [
  {
    id: "raw",
    page: "raw",
    label: "raw fetch PUTs (baseline)",
    store: "s3",
    args: () => ({}),
  },
  {
    id: "raw-sha256",
    page: "raw",
    label: "raw fetch PUTs + WebCrypto SHA-256 per part, signed and checked",
    store: "s3",
    args: () => ({ checksum: true }),
    expectChecksum: true,
  },
  {
    id: "resupload",
    page: "resupload",
    label: 'resupload, checksum "none"',
    store: "s3",
    args: () => ({ checksum: "none" }),
  },
  {
    // No `concurrency`: the parts in flight grow from 4 while that raises
    // the measured rate (up to 8, the default maxConcurrency). No
    // `partSize`: a fresh upload's parts follow the link an earlier upload
    // in this browser measured (any resupload run before it).
    id: "resupload-auto",
    page: "resupload",
    label: 'resupload, checksum "none", concurrency and partSize unset (from the link)',
    store: "s3",
    args: () => ({ checksum: "none", concurrency: undefined, partSize: undefined }),
  },
  {
    // The same Upload from the package's other build (resupload/queue,
    // with UploadQueue), to compare the two builds in one run. Only with
    // --only.
    id: "resupload-queue-build",
    page: "resupload",
    label: 'resupload/queue\'s Upload, checksum "none"',
    store: "s3",
    args: () => ({ checksum: "none", build: "queue" }),
    onlyWhenNamed: true,
  },
  {
    id: "resupload-sha256",
    page: "resupload",
    label: 'resupload, checksum "sha256"',
    store: "s3",
    args: () => ({ checksum: "sha256" }),
    // The row only counts if some request carries a SHA-256 checksum.
    expectChecksum: true,
  },
  {
    id: "uppy",
    page: "uppy",
    label: `@uppy/core ${version("@uppy/core")} + @uppy/aws-s3 ${version("@uppy/aws-s3")}`,
    store: "s3",
    args: () => ({}),
  },
  {
    id: "lib-storage",
    page: "lib-storage",
    label: `@aws-sdk/lib-storage ${version("@aws-sdk/lib-storage")} (to Garage directly)`,
    store: "s3",
    args: (bench) => ({ s3: bench.s3 }),
  },
  {
    id: "tus",
    page: "tus",
    label: `tus-js-client ${version("tus-js-client")} → @tus/server ${version("@tus/server")} + file-store`,
    store: "tus",
    args: (bench) => ({ tus: { endpoint: bench.tus.endpoint, parallelUploads: bench.tus.parallelUploads } }),
  },
];

export const CLIENT_IDS = CLIENTS.map((c) => c.id);

/**
 * The clients of the many-files cases (bench/lib/many.mjs runs them): each
 * page function uploads all of window.bench.files and answers
 * `{ seconds, objects: [{ name, key }], failed: [{ name, error }] }` or
 * `{ unsupported }`. `clientId` ties a row to the single-file client whose
 * id --only names.
 */
export const FILES_CLIENTS = [
  {
    id: "raw",
    page: "files-raw",
    label: "raw fetch (baseline)",
    args: () => ({}),
  },
  {
    id: "resupload",
    page: "files-resupload",
    label: 'resupload UploadQueue, checksum "none"',
    args: () => ({ checksum: "none" }),
  },
  {
    // No `concurrency`: the queue's budget grows from 4 while that raises
    // the measured rate (up to 8, the default maxConcurrency).
    id: "resupload-auto",
    page: "files-resupload",
    label: 'resupload UploadQueue, checksum "none", concurrency unset (grown from the link)',
    args: () => ({ checksum: "none", concurrency: undefined }),
  },
  {
    id: "uppy",
    page: "files-uppy",
    label: `@uppy/aws-s3 ${version("@uppy/aws-s3")}, companionEndpoint (its small-file path)`,
    args: () => ({ mode: "companion" }),
    uppy: true,
  },
  {
    id: "uppy-put",
    clientId: "uppy",
    page: "files-uppy",
    label: `@uppy/aws-s3 ${version("@uppy/aws-s3")}, signRequest → /api/s3/params (PutObject)`,
    args: () => ({ mode: "put" }),
    uppy: true,
  },
  {
    id: "uppy-multipart",
    clientId: "uppy",
    page: "files-uppy",
    label: `@uppy/aws-s3 ${version("@uppy/aws-s3")}, companionEndpoint, every file multipart`,
    args: () => ({ mode: "multipart" }),
    uppy: true,
  },
];

/** The versions of the JS clients, for the report. */
export function clientVersions() {
  return Object.fromEntries(
    ["@uppy/core", "@uppy/aws-s3", "@uppy/golden-retriever", "@aws-sdk/client-s3", "@aws-sdk/lib-storage", "tus-js-client", "@tus/server", "@tus/file-store", "esbuild", "playwright-core"].map(
      (p) => [p, version(p)],
    ),
  );
}

/** How long one upload of `size` bytes may take before it counts as hung. */
export function uploadTimeout(size) {
  return 120_000 + (size / MIB) * 1000; // 1 MiB/s at worst, plus two minutes
}

/**
 * Runs one upload of the page's current file (`file`: { path, size, sha256 })
 * with `client` and checks the stored bytes. Never throws for a client's own
 * failure; returns
 *   { status: "ok" | "void" | "failed" | "n/a", seconds?, mibps?, maxInFlight,
 *     checksummed, notes: [], error? }
 * A hung upload is stopped by reloading the page.
 */
export async function runUpload(bench, client, { file, partSize, concurrency, tag }) {
  const tracker = bench.trackRequests();
  let result;
  try {
    const args = { partSize, concurrency, tag, ...client.args(bench) };
    result = await withTimeout(
      bench.page.evaluate(({ page, args }) => window.benchClients[page](args), { page: client.page, args }),
      uploadTimeout(file.size),
      `${client.id} uploading ${file.size} bytes`,
    );
  } catch (error) {
    const traffic = tracker.stop();
    if (error.timeout) await bench.reopenPage();
    return { status: "failed", error: firstLine(error.message), maxInFlight: traffic.maxInFlight, checksummed: traffic.checksummed, notes: [] };
  }
  const traffic = tracker.stop();
  const notes = [...(result.notes ?? [])];
  if (result.unsupported) return { status: "n/a", reason: "option missing", notes: [result.unsupported], maxInFlight: 0, checksummed: 0 };
  const out = {
    status: "ok",
    seconds: result.seconds,
    mibps: file.size / MIB / result.seconds,
    maxInFlight: traffic.maxInFlight,
    puts: traffic.puts,
    checksummed: traffic.checksummed,
    checksummedUploads: traffic.checksummedUploads,
    notes,
  };
  // Byte-identical or void.
  try {
    const stored = client.store === "tus" ? await bench.checkTus(result.url) : await bench.checkS3(result.key);
    out.stored = stored;
    if (stored.sha256 !== file.sha256 || stored.size !== file.size) {
      out.status = "void";
      out.error = `stored object differs from the file (size ${stored.size} vs ${file.size}, sha256 ${stored.sha256.slice(0, 12)}… vs ${file.sha256.slice(0, 12)}…)`;
    }
  } catch (error) {
    out.status = "void";
    out.error = `could not check the stored object: ${firstLine(error.message)}`;
  }
  if (client.expectChecksum && out.status === "ok" && traffic.checksummed === 0) {
    out.status = "n/a";
    out.reason = "option ignored";
    out.notes.push("no request carried a SHA-256 checksum: the option is not implemented yet");
  }
  return out;
}

function firstLine(text) {
  return String(text).split("\n")[0].slice(0, 300);
}
