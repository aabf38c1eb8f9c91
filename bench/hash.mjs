// SHA-256 throughput in one headless Chromium run, on the same bytes:
// - sha2 in resupload's own wasm: read from a Blob in 4 MiB slices
//   (`__hashBlob`, what the page runs when no hash worker can; the worker
//   reads 8 MiB slices for parts over 64 MiB and where WebCrypto is
//   missing), and on bytes already in memory (`__hashBytes`);
// - resupload's hash worker itself (WebCrypto for a part up to 64 MiB);
// - WebCrypto `crypto.subtle.digest` (one shot: it cannot stream, so a part
//   must be read whole into memory first);
// - hash-wasm (npm), the fastest published wasm hasher, streamed the same
//   way from the same Blob, and on bytes in memory.
// Methods alternate, medians of `runs`, every digest checked against
// Node's. Then the upload's view: 4 parts of 8 MiB hashed at once through
// the hash worker (what an upload at concurrency 4 asks of it).
//
//   node bench/hash.mjs [MiB=64] [runs=5]     (starts its own stack)
//
// Prints a markdown table (for BENCHMARKS.md). `npm run bench` runs it too,
// as its "hash" section (bench/sections/hash.mjs).

import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { fileURLToPath } from "node:url";

// Not the e2e harness at load time: it reads its file timeout then, and
// `npm run bench` raises that timeout before it loads the harness.
const MIB = 1024 * 1024;
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Measures every method on `page` (a page of the dev server, whose /pkg/
 * serves the wasm package) and answers the report's markdown lines and the
 * figures.
 */
export async function measureHashes(page, { sizeMiB = 64, runs = 5 } = {}) {
  const snippetDir = path.join(REPO, "pkg", "snippets");
  const snippet = fs
    .readdirSync(snippetDir)
    .map((d) => path.join("snippets", d, "src/web/hash_client.js"))
    .find((p) => fs.existsSync(path.join(REPO, "pkg", p)));
  if (!snippet) throw new Error("pkg/snippets/*/src/web/hash_client.js not found: run npm run build");
  const hashWasm = path.join(REPO, "node_modules/hash-wasm/dist/sha256.umd.min.js");

  const bytes = randomBytes(sizeMiB * MIB);
  const expected = createHash("sha256").update(bytes).digest("hex");
  await page.addScriptTag({ path: hashWasm });
  // The bytes travel to the page once, base64 in chunks.
  await page.evaluate(() => (window.benchChunks = []));
  for (let at = 0; at < bytes.length; at += 8 * MIB) {
    await page.evaluate((b64) => {
      const raw = atob(b64);
      const out = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      window.benchChunks.push(out);
    }, bytes.subarray(at, at + 8 * MIB).toString("base64"));
  }
  await page.evaluate(async (snippet) => {
    const lib = await import("/pkg/resupload.js");
    const wasm = await lib.default();
    const bytes = new Uint8Array(window.benchChunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of window.benchChunks) (bytes.set(c, at), (at += c.length));
    delete window.benchChunks;
    const blob = new Blob([bytes]);
    const { HashWorker } = await import(`/pkg/${snippet}`);
    const module = await WebAssembly.compileStreaming(fetch("/pkg/resupload_bg.wasm"));
    const worker = new HashWorker(module);
    const hex = (u8) => Array.from(new Uint8Array(u8), (b) => b.toString(16).padStart(2, "0")).join("");
    // hash-wasm fed by Blob.stream(), chunk by chunk.
    const hashWasmStream = async (blob) => {
      const h = await hashwasm.createSHA256();
      h.init();
      const reader = blob.stream().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        h.update(value);
      }
      return h.digest("hex");
    };
    window.hashBench = {
      wasm,
      methods: {
        "sha2 (resupload wasm), Blob in 4 MiB slices, page": async () => hex(await lib.__hashBlob(blob)),
        "resupload's hash worker (WebCrypto for a Blob up to 64 MiB, else sha2 in 8 MiB slices)": async () => hex(await worker.hash(blob)),
        "sha2 (resupload wasm), bytes in memory": async () => hex(lib.__hashBytes(bytes)),
        "WebCrypto, Blob read whole": async () => hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer())),
        "WebCrypto, bytes in memory": async () => hex(await crypto.subtle.digest("SHA-256", bytes)),
        "hash-wasm, Blob streamed": async () => hashWasmStream(blob),
        "hash-wasm, bytes in memory": async () => hashwasm.sha256(bytes),
      },
      // What an upload asks: 4 parts of 8 MiB at once through the worker.
      async fourParts() {
        const part = 8 * 2 ** 20;
        const parts = [0, 1, 2, 3].map((i) => blob.slice((i * part) % (blob.size - part), ((i * part) % (blob.size - part)) + part));
        const t0 = performance.now();
        await Promise.all(parts.map((p) => worker.hash(p)));
        return performance.now() - t0;
      },
    };
  }, snippet);

  const names = await page.evaluate(() => Object.keys(window.hashBench.methods));
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let run = 0; run < runs; run++) {
    for (const name of run % 2 ? [...names].reverse() : names) {
      const { ms, digest } = await page.evaluate(async (name) => {
        const t0 = performance.now();
        const digest = await window.hashBench.methods[name]();
        return { ms: performance.now() - t0, digest };
      }, name);
      if (digest !== expected) throw new Error(`${name}: wrong digest ${digest}`);
      times[name].push(ms);
    }
  }
  const four = [];
  for (let run = 0; run < runs; run++) four.push(await page.evaluate(() => window.hashBench.fourParts()));

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (ms, mib = sizeMiB) => mib / (ms / 1000);
  const reference = rate(median(times["hash-wasm, Blob streamed"]));
  const browser = await page.evaluate(() => navigator.userAgent.match(/Chrom(e|ium)\/[\d.]+/)?.[0] ?? navigator.userAgent);
  const lines = [
    `SHA-256 of ${sizeMiB} MiB, median of ${runs} runs, methods alternating; ${browser} headless, ` +
      `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${new Date().toISOString().slice(0, 10)}.`,
    "",
    "| method | MiB/s | vs hash-wasm streamed |",
    "| --- | ---: | ---: |",
    ...names.map((n) => {
      const r = rate(median(times[n]));
      return `| ${n} | ${r.toFixed(0)} | ${(r / reference).toFixed(2)} |`;
    }),
    "",
    `Four 8 MiB parts hashed at once through the hash worker (an upload at concurrency 4): ` +
      `median ${median(four).toFixed(0)} ms, ${rate(median(four), 32).toFixed(0)} MiB/s.`,
  ];
  return { lines, figures: Object.fromEntries(names.map((n) => [n, rate(median(times[n]))])), fourPartsMs: median(four) };
}

// Run directly: a stack of its own.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { startStack } = await import("../tests/e2e/harness.mjs");
  const stack = await startStack({ label: "hash-bench", withGate: false });
  try {
    await stack.page.goto(stack.demoUrl());
    const { lines } = await measureHashes(stack.page, {
      sizeMiB: Number(process.argv[2] ?? 64),
      runs: Number(process.argv[3] ?? 5),
    });
    console.log(lines.join("\n"));
  } finally {
    await stack.stop();
  }
}
