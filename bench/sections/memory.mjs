// Memory: while resupload uploads 1 GiB and 4 GiB (and the raw baseline
// 1 GiB, for comparison), the bench samples about every 50 ms
//   - the JS heap in use (CDP Runtime.getHeapUsage), and
//   - resupload's wasm linear memory (`(await init()).memory.buffer.byteLength`),
// each case in a freshly loaded page (new wasm instance) after a forced GC.
// Reported: value at start, peak, and growth (peak − start).
// The 4 GiB file is sparse (zeros, created instantly); it is uploaded once.

import { CLIENTS, runUpload } from "../clients/index.mjs";
import { fmt, log, mib, sleep } from "../lib/util.mjs";

export const id = "memory";
export const title = "Memory";
export const needsBrowser = true;
export const enabledByDefault = true;

const SAMPLE_MS = 50;

const CASES = [
  { client: "resupload", sizeMiB: 1024, kind: "random" },
  { client: "resupload", sizeMiB: 4096, kind: "zeros" },
  { client: "resupload-sha256", sizeMiB: 1024, kind: "random" },
  { client: "raw", sizeMiB: 1024, kind: "random" },
];

export async function run(ctx) {
  const { bench } = ctx;
  const rows = [];
  for (const c of CASES) {
    const client = CLIENTS.find((x) => x.id === c.client);
    const file = c.kind === "zeros" ? await ctx.zeroFile(c.sizeMiB) : await ctx.randomFile(c.sizeMiB);
    await bench.reopenPage();
    await bench.setFile(file.path);
    const cdp = await bench.cdp();
    try {
      await cdp.send("HeapProfiler.enable");
      await cdp.send("HeapProfiler.collectGarbage");
      await sleep(200);
      const start = await sample(cdp);
      const sampler = startSampling(cdp);
      log(`memory: ${client.id} ${c.sizeMiB} MiB (${c.kind})…`);
      const result = await runUpload(bench, client, {
        file,
        partSize: ctx.partSize,
        concurrency: ctx.concurrency,
        tag: `memory-${client.id}-${c.sizeMiB}-${Date.now()}`,
      });
      const samples = await sampler.stop();
      // What the upload left behind: the heap after a forced GC at the end.
      await cdp.send("HeapProfiler.collectGarbage");
      await sleep(200);
      const end = await sample(cdp);
      const peakHeap = Math.max(start.heap, ...samples.map((s) => s.heap));
      const peakWasm = Math.max(start.wasm, ...samples.map((s) => s.wasm));
      const row = {
        client: client.id,
        label: client.id === "raw" ? "raw baseline" : client.id === "resupload" ? 'resupload, checksum "none"' : 'resupload, checksum "sha256"',
        sizeMiB: c.sizeMiB,
        file: c.kind,
        status: result.status,
        error: result.error,
        mibps: result.mibps,
        samples: samples.length,
        meanIntervalMs: samples.length > 1 ? (samples.at(-1).t - samples[0].t) / (samples.length - 1) : NaN,
        heap: { start: start.heap, peak: peakHeap, growth: peakHeap - start.heap, afterGc: end.heap },
        wasm: client.id === "raw" ? null : { start: start.wasm, peak: peakWasm, growth: peakWasm - start.wasm },
      };
      rows.push(row);
      log(
        `memory: ${client.id} ${c.sizeMiB} MiB ${result.status}; heap ${mib(row.heap.start)} → peak ${mib(row.heap.peak)} MiB; ` +
          `wasm ${row.wasm ? `${mib(row.wasm.start)} → ${mib(row.wasm.peak)} MiB` : "–"}; ${row.samples} samples`,
      );
    } finally {
      await cdp.detach().catch(() => {});
    }
  }

  const lines = [
    "| client | file | JS heap at start | JS heap peak | heap growth | JS heap after GC at the end | wasm memory at start | wasm peak | wasm growth | samples (mean interval) | MiB/s while sampled |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const size = r.sizeMiB % 1024 === 0 ? `${r.sizeMiB / 1024} GiB` : `${r.sizeMiB} MiB`;
    const ok = r.status === "ok";
    lines.push(
      `| ${r.label} | ${size} ${r.file === "zeros" ? "(sparse zeros)" : "(random)"} | ${mib(r.heap.start)} MiB | ${mib(r.heap.peak)} MiB | ${mib(r.heap.growth)} MiB | ${mib(r.heap.afterGc)} MiB | ` +
        `${r.wasm ? `${mib(r.wasm.start)} MiB` : "–"} | ${r.wasm ? `${mib(r.wasm.peak)} MiB` : "–"} | ${r.wasm ? `${mib(r.wasm.growth)} MiB` : "–"} | ` +
        `${r.samples} (${fmt(r.meanIntervalMs, 0)} ms) | ${ok ? fmt(r.mibps) : r.status} |`,
    );
  }
  const notes = [
    `Sampled every ~${SAMPLE_MS} ms from the bench over CDP (a sample waits while the page's main thread is busy, so the mean interval is shown). JS heap = \`Runtime.getHeapUsage\` usedSize of the page after a forced GC at start; wasm = resupload's linear memory (\`memory.buffer.byteLength\`, which only grows). File bytes live in the browser's blob storage, in neither. Each case ran in a freshly loaded page; uploads were checked by SHA-256 like the throughput runs. The peak counts garbage not yet collected (V8 collects its young generation only when it fills, so the peak moves with the allocation rate); the heap after a forced GC at the end is what the upload left behind. With checksums, parts are hashed in resupload's hash worker, whose heap is not the page's and is not sampled here: it reads one part at a time whole (8 MiB) for WebCrypto.`,
  ];
  for (const r of rows) if (r.status !== "ok") notes.push(`${r.client} ${r.sizeMiB} MiB: ${r.status}${r.error ? `: ${r.error}` : ""}`);
  return { markdown: `${lines.join("\n")}\n\n${notes.map((n) => `- ${n}`).join("\n")}`, json: { sampleMs: SAMPLE_MS, rows } };
}

async function sample(cdp) {
  const [{ usedSize }, wasm] = await Promise.all([
    cdp.send("Runtime.getHeapUsage"),
    cdp.send("Runtime.evaluate", { expression: "window.bench.wasm.memory.buffer.byteLength", returnByValue: true }),
  ]);
  return { t: Date.now(), heap: usedSize, wasm: wasm.result.value };
}

/** Samples until stop(), which returns the samples. */
function startSampling(cdp) {
  const samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      try {
        samples.push(await sample(cdp));
      } catch (error) {
        if (running) log(`memory: a sample failed: ${error.message}`);
      }
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - t)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

