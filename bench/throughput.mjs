// Upload throughput in one headless Chromium run against the dev server and
// a Garage node on loopback: resupload against a raw baseline (plain fetch
// PUTs of Blob.slice parts to presigned URLs, nothing else), same bytes, part
// size and concurrency, runs alternating, medians and ratios printed.
// Every upload's object is checked by SHA-256, or the run fails.
//
//   node bench/throughput.mjs [sizeMiB=256] [runs=3]
//
// A first figure for the performance issue, not its full benchmark: the JS
// clients (Uppy, tus, lib-storage), memory, per-part overhead, resume latency
// and bundle size are still to be measured.

import { MIB, startStack } from "../tests/e2e/harness.mjs";

const sizeMiB = Number(process.argv[2] ?? 256);
const runs = Number(process.argv[3] ?? 3);
const PART = 8 * MIB;
const CONCURRENCY = 4;

const stack = await startStack({ label: "bench", withGate: false });
try {
  const page = stack.page;
  await page.goto(stack.demoUrl());
  // A file on disk, picked through a file input, as a user's file would be
  // (in-page Blobs of this size failed reads past ~240 MiB here).
  const { path: filePath, sha256: expected } = await stack.makeFile("bench.bin", sizeMiB * MIB);
  await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<input type="file" id="bench-input" hidden>'));
  await page.setInputFiles("#bench-input", filePath);
  await page.evaluate(async () => {
    const { default: init, Upload } = await import("/pkg/resupload.js");
    await init();
    window.bench = { Upload, file: document.getElementById("bench-input").files[0] };
  });

  const clients = {
    async raw({ part, concurrency }) {
      return page.evaluate(
        async ({ part, concurrency }) => {
          const { file } = window.bench;
          const api = "/api/s3/multipart";
          const t0 = performance.now();
          const created = await (
            await fetch(api, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ filename: file.name, type: "", metadata: {} }),
            })
          ).json();
          const q = `key=${encodeURIComponent(created.key)}`;
          const count = Math.ceil(file.size / part);
          const etags = new Array(count);
          let next = 0;
          const worker = async () => {
            while (next < count) {
              const n = ++next;
              const { url } = await (await fetch(`${api}/${created.uploadId}/${n}?${q}`)).json();
              // One retry on a network error: Chromium does not retry a PUT
              // whose reused connection the store had closed (seen here).
              let res;
              for (let attempt = 0; !res; attempt++) {
                try {
                  res = await fetch(url, { method: "PUT", body: file.slice((n - 1) * part, Math.min(file.size, n * part)) });
                } catch (e) {
                  if (attempt > 0) throw new Error(`PUT ${n}: ${e}`);
                  window.bench.rawRetries = (window.bench.rawRetries ?? 0) + 1;
                }
              }
              if (!res.ok) throw new Error(`PUT ${n}: ${res.status}`);
              etags[n - 1] = res.headers.get("ETag");
            }
          };
          await Promise.all(Array.from({ length: concurrency }, worker));
          const parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
          const done = await fetch(`${api}/${created.uploadId}/complete?${q}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ parts }),
          });
          if (!done.ok) throw new Error(`complete: ${done.status}`);
          return { seconds: (performance.now() - t0) / 1000, key: created.key };
        },
        { part, concurrency },
      );
    },
    async resupload({ part, concurrency, run }) {
      return page.evaluate(
        async ({ part, concurrency, run }) => {
          const { Upload, file } = window.bench;
          const t0 = performance.now();
          const upload = new Upload(file, { endpoint: "/api/s3", partSize: part, concurrency, namespace: `bench-${run}` });
          const { key } = await upload.start();
          return { seconds: (performance.now() - t0) / 1000, key };
        },
        { part, concurrency, run },
      );
    },
  };

  if (process.env.BENCH_ONLY) for (const name of Object.keys(clients)) if (name !== process.env.BENCH_ONLY) delete clients[name];
  const results = Object.fromEntries(Object.keys(clients).map((name) => [name, []]));
  for (let run = 0; run < runs; run++) {
    for (const [name, client] of Object.entries(clients)) {
      const { seconds, key } = await client({ part: PART, concurrency: CONCURRENCY, run });
      const object = await stack.debug.object(key);
      if (!object || object.sha256 !== expected) throw new Error(`${name} run ${run}: the stored object differs from the file`);
      results[name].push(sizeMiB / seconds);
      console.log(`run ${run + 1} ${name.padEnd(10)} ${(sizeMiB / seconds).toFixed(1)} MiB/s`);
    }
  }
  console.log(`raw baseline: ${await page.evaluate(() => window.bench.rawRetries ?? 0)} PUTs retried after a network error`);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const raw = results.raw ? median(results.raw) : NaN;
  console.log(`\n${sizeMiB} MiB, ${PART / MIB} MiB parts, ${CONCURRENCY} parallel, ${runs} runs each, alternating; medians:`);
  console.log("| client | MiB/s | ratio to raw |\n| --- | --- | --- |");
  for (const [name, xs] of Object.entries(results)) {
    console.log(`| ${name} | ${median(xs).toFixed(1)} | ${(median(xs) / raw).toFixed(2)} |`);
  }
} finally {
  await stack.stop();
}
