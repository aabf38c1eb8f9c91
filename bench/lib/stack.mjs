// Everything the in-browser sections need, started once per bench run:
//
//   Garage + the dev server (--debug-routes) + headless Chromium, from the
//   end-to-end harness (tests/e2e/harness.mjs), with no store gate: part
//   PUTs go to Garage directly, as in production;
//   a tus server in a child process (bench/lib/tus-server.mjs);
//   the bench page: an empty page on the dev server's origin with a hidden
//   <input type=file> (files on disk, picked with setInputFiles) and a
//   hidden <input type=file multiple> for the many-files sections, resupload
//   loaded from /pkg/ and every client's bundle from bench/dist.
//
// stop() ends all of it; the harness' watchdog also kills the tus server if
// this process dies.

import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { DeleteObjectCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";

import { buildPageBundles } from "./build.mjs";
import { log, parseEnvFile, sha256File, sha256Stream, withTimeout } from "./util.mjs";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

// The bench page is a document the dev server itself serves (wasm-pack's
// pkg/package.json, which runs no script), its content replaced. Not a page
// served by request interception: Chromium gives such a document no IP
// address space, so its requests to 127.0.0.1 fail Local Network Access
// checks ("Permission was denied for this request to access the `loopback`
// address space").
const PAGE_PATH = "/pkg/package.json";
const PAGE_HEAD = '<meta charset="utf-8"><title>resupload bench</title><link rel="icon" href="data:,">';
const PAGE_BODY = '<input type="file" id="bench-input" hidden><input type="file" id="bench-files" multiple hidden>';

export async function startBench() {
  // The harness stops a "test file" after 15 minutes; a full bench runs
  // longer (bench/run.mjs sets this before anything loads the harness).
  process.env.E2E_FILE_TIMEOUT_MS ??= String(6 * 3600_000);
  const { startStack } = await import("../../tests/e2e/harness.mjs");
  const bundles = await buildPageBundles();
  const stack = await startStack({ label: "bench", withGate: false });
  const bench = Object.assign(Object.create(methods), { stack, page: stack.page, bundles, currentFile: null, currentFiles: null });
  let tusChild = null;

  bench.stop = async () => {
    if (tusChild && tusChild.exitCode === null) {
      const exited = new Promise((resolve) => tusChild.once("exit", resolve));
      tusChild.stdin.end();
      await withTimeout(exited, 5_000, "the tus server to exit").catch(() => tusChild.kill("SIGKILL"));
    }
    bench.store?.destroy();
    await stack.stop();
  };

  try {
    // The store, as the page and the checks reach it.
    const env = parseEnvFile(await fsp.readFile(path.join(stack.tmpDir, "garage/s3.env"), "utf8"));
    bench.s3 = {
      endpoint: env.S3_ENDPOINT,
      region: env.S3_REGION,
      bucket: env.S3_BUCKET,
      accessKeyId: env.S3_ACCESS_KEY_ID,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    };
    // The SDK warns once that it will want Node 22 from 2027; not this bench's concern.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    bench.store = new S3Client({
      endpoint: bench.s3.endpoint,
      region: bench.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: bench.s3.accessKeyId, secretAccessKey: bench.s3.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });

    // The tus server.
    const tusDir = path.join(stack.tmpDir, "tus");
    await fsp.mkdir(tusDir);
    tusChild = spawn(process.execPath, [path.join(REPO, "bench/lib/tus-server.mjs"), tusDir], { stdio: ["pipe", "pipe", "pipe"] });
    fs.appendFileSync(path.join(stack.tmpDir, "pids"), `${tusChild.pid}\n`); // the harness' watchdog kills it too
    tusChild.stderr.on("data", (d) => log(`[tus server] ${String(d).trimEnd()}`));
    const ready = await withTimeout(
      new Promise((resolve, reject) => {
        let out = "";
        tusChild.stdout.on("data", (d) => {
          out += d;
          const line = out.split("\n").find((l) => l.startsWith("{"));
          if (line) resolve(JSON.parse(line));
        });
        tusChild.once("exit", (code) => reject(new Error(`the tus server exited (${code}) before it listened`)));
      }),
      20_000,
      "the tus server to listen",
    );
    const tusOrigin = `http://127.0.0.1:${ready.port}`;
    // parallelUploads > 1 needs the concatenation extension: ask the server.
    const options = await fetch(`${tusOrigin}/files`, { method: "OPTIONS" });
    const extensions = (options.headers.get("tus-extension") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const concatenation = extensions.includes("concatenation");
    bench.tus = {
      endpoint: `${tusOrigin}/files`,
      dir: tusDir,
      extensions,
      parallelUploads: concatenation ? 4 : 1,
      note: concatenation
        ? "tus-js-client with parallelUploads 4 (the server announces concatenation)"
        : `tus-js-client with parallelUploads 1: @tus/file-store announces no concatenation extension (Tus-Extension: ${extensions.join(", ")}), which parallel uploads need, so one PATCH of 8 MiB at a time`,
    };

    // Network events with the browser's timestamps (a session survives navigations).
    bench.net = await bench.cdp();
    await bench.net.send("Network.enable");
    await bench.reopenPage();
  } catch (error) {
    await bench.stop();
    throw error;
  }
  return bench;
}

/** Opens (or reopens: a fresh document, wasm instance and heap) the bench page. */
async function openPage(bench) {
  const { page, stack } = bench;
  const url = new URL(PAGE_PATH, stack.baseUrl).href;
  await page.goto(url);
  await page.evaluate(({ head, body }) => {
    document.head.innerHTML = head;
    document.body.innerHTML = body;
  }, { head: PAGE_HEAD, body: PAGE_BODY });
  for (const file of Object.values(bench.bundles)) await page.addScriptTag({ path: file });
  await page.evaluate(async () => {
    const resupload = await import("/pkg/resupload.js");
    const wasm = await resupload.default();
    // UploadQueue: the many-files API (issue 13), in the package's
    // resupload/queue build (the harness serves only packages that have it).
    const queue = await import("/pkg/queue/resupload.js");
    await queue.default();
    // Upload's static lookups (listPending, clearPending), in the
    // resupload/pending build: the bench's clean-up calls them.
    const pending = await import("/pkg/pending/resupload.js");
    await pending.default();
    window.bench = { Upload: resupload.Upload, Lookups: pending.Upload, UploadQueue: queue.UploadQueue, QueueBuildUpload: queue.Upload, wasm };
  });
  if (bench.currentFile) await setFile(bench, bench.currentFile);
  if (bench.currentFiles) await setFiles(bench, bench.currentFiles);
}

/** Picks `file` (a path) in the page's file input; the page sees it as window.bench.file. */
async function setFile(bench, file) {
  bench.currentFile = file;
  await bench.page.setInputFiles("#bench-input", file);
  await bench.page.evaluate(() => {
    window.bench.file = document.getElementById("bench-input").files[0];
  });
}

/**
 * Picks `files` (paths, in this order) in the page's multiple file input;
 * the page sees them as window.bench.files (an array of File).
 */
async function setFiles(bench, files) {
  bench.currentFiles = files;
  await bench.page.setInputFiles("#bench-files", files);
  const count = await bench.page.evaluate(() => {
    window.bench.files = Array.from(document.getElementById("bench-files").files);
    return window.bench.files.length;
  });
  if (count !== files.length) throw new Error(`the page picked ${count} of ${files.length} files`);
}

/**
 * Watches the page's requests until stop(): the most part uploads (PUT,
 * PATCH) in flight at once, from the browser's own timestamps (CDP Network
 * events on `net`; Playwright's events can arrive late and overlap
 * back-to-back requests), how many there were, and how many requests carried
 * a SHA-256 checksum (a header, the URL, or a JSON body).
 */
function trackRequests(page, net) {
  let puts = 0;
  let checksummed = 0;
  let checksummedUploads = 0;
  const open = new Map(); // CDP requestId → start (browser seconds)
  const spans = []; // [start, end]
  let last = 0;
  const isUpload = (method) => method === "PUT" || method === "PATCH";
  const onSent = ({ requestId, request, timestamp }) => {
    last = Math.max(last, timestamp);
    if (isUpload(request.method)) {
      open.set(requestId, timestamp);
      puts += 1;
    }
  };
  const onEnd = ({ requestId, timestamp }) => {
    last = Math.max(last, timestamp);
    if (!open.has(requestId)) return;
    spans.push([open.get(requestId), timestamp]);
    open.delete(requestId);
  };
  const onRequest = (r) => {
    const headers = Object.keys(r.headers());
    let mentions = /checksum-sha256|checksumsha256/i.test(r.url()) || headers.some((h) => /^x-amz-checksum-sha256$/i.test(h));
    if (!mentions && !isUpload(r.method())) mentions = /checksum/i.test(r.postData() ?? "");
    if (mentions) checksummed += 1;
    if (mentions && isUpload(r.method())) checksummedUploads += 1;
  };
  net.on("Network.requestWillBeSent", onSent);
  net.on("Network.loadingFinished", onEnd);
  net.on("Network.loadingFailed", onEnd);
  page.on("request", onRequest);
  return {
    stop() {
      net.off("Network.requestWillBeSent", onSent);
      net.off("Network.loadingFinished", onEnd);
      net.off("Network.loadingFailed", onEnd);
      page.off("request", onRequest);
      for (const start of open.values()) spans.push([start, Math.max(start, last) + 1e-6]);
      return { maxInFlight: maxOverlap(spans), puts, checksummed, checksummedUploads };
    },
  };
}

/** The most spans [start, end] open at one instant (one ending as another starts: not both). */
function maxOverlap(spans) {
  const events = spans.flatMap(([a, b]) => [
    [a, 1],
    [b, -1],
  ]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let most = 0;
  for (const [, d] of events) {
    open += d;
    most = Math.max(most, open);
  }
  return most;
}

/** { size, sha256 } of an object in the bucket, then deletes it. */
async function checkS3(bench, key) {
  if (!key) throw new Error("the client gave no object key");
  const got = await bench.store.send(new GetObjectCommand({ Bucket: bench.s3.bucket, Key: key }));
  const digest = await sha256Stream(got.Body);
  await bench.store.send(new DeleteObjectCommand({ Bucket: bench.s3.bucket, Key: key }));
  return digest;
}

/** { size, sha256 } of a finished tus upload's file, then deletes it. */
async function checkTus(bench, url) {
  if (!url) throw new Error("the client gave no upload URL");
  const id = decodeURIComponent(new URL(url).pathname.split("/").pop());
  const file = path.join(bench.tus.dir, id);
  const { size } = await fsp.stat(file);
  const sha256 = await sha256File(file);
  await fsp.rm(file, { force: true });
  await fsp.rm(`${file}.json`, { force: true });
  return { size, sha256 };
}

// The bench object's methods.
const methods = {
  reopenPage() {
    return openPage(this);
  },
  setFile(file) {
    return setFile(this, file);
  },
  setFiles(files) {
    return setFiles(this, files);
  },
  trackRequests() {
    return trackRequests(this.page, this.net);
  },
  checkS3(key) {
    return checkS3(this, key);
  },
  checkTus(url) {
    return checkTus(this, url);
  },
  /** A CDP session on the bench page. */
  cdp() {
    return this.page.context().newCDPSession(this.page);
  },
};
