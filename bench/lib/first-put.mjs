// What the latency sections (resume-latency, start-latency) share: the
// time from `start()` to an upload's first part request on the wire (the
// `send()` of its XMLHttpRequest), pausing the upload there, the sparse
// file, and the fake backend that holds part PUTs unanswered.

import fsp from "node:fs/promises";
import path from "node:path";

import { startFakeBackend } from "./fake-backend.mjs";
import { withLink } from "./link.mjs";
import { installTrace, takeTrace } from "./page-trace.mjs";
import { log, sleep } from "./util.mjs";

/**
 * One measured start on the freshly loaded page: with `--resume-trace`
 * the page's calls are traced (and printed when `traceLabel` is given),
 * with `--resume-link` the start runs on the emulated link. Answers the
 * ms from `start()` to the first part request, as startToFirstPut.
 */
export async function measuredStart(bench, opts, endpoint, options, traceLabel) {
  if (opts.resumeTrace) await bench.page.evaluate(installTrace);
  await sleep(200);
  const start = () => startToFirstPut(bench.page, endpoint, options);
  const ms = await (opts.resumeLink ? withLink(bench, opts.resumeLink, start) : start());
  if (opts.resumeTrace && traceLabel) log(`${traceLabel}:\n${await bench.page.evaluate(takeTrace)}`);
  return ms;
}

/** Starts an upload in the page and answers how long until its first part
 *  request was sent (ms); the upload keeps running (call pause()). */
export async function startToFirstPut(page, endpoint, options) {
  return page.evaluate(
    async ({ endpoint, options }) => {
      const proto = XMLHttpRequest.prototype;
      if (!proto.__benchHooked) {
        const open = proto.open;
        const send = proto.send;
        proto.open = function (method, ...rest) {
          this.__benchMethod = method;
          return open.call(this, method, ...rest);
        };
        proto.send = function (body) {
          if (this.__benchMethod === "PUT" && window.benchFirstPut == null) window.benchFirstPut = performance.now();
          return send.call(this, body);
        };
        proto.__benchHooked = true;
      }
      window.benchFirstPut = null;
      const upload = new window.bench.Upload(window.bench.file, { endpoint, ...options });
      window.benchUpload = upload;
      const t0 = performance.now();
      window.benchStart = t0;
      window.benchRun = upload.start().catch((e) => e);
      while (window.benchFirstPut == null) {
        const early = await Promise.race([window.benchRun, new Promise((r) => setTimeout(() => r(null), 1))]);
        if (early) throw new Error(`the upload ended before its first part: ${early.code} ${early.message}`);
      }
      return window.benchFirstPut - t0;
    },
    { endpoint, options },
  );
}

/** Pauses the upload startToFirstPut started, and waits for its run to end. */
export async function pause(page) {
  await page.evaluate(async () => {
    window.benchUpload.pause();
    await window.benchRun;
  });
}

/** Polls `fn` until it answers something (a request the fake backend saw). */
export async function waitForBackend(fn, ms = 10_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const value = fn();
    if (value) return value;
    await sleep(10);
  }
  throw new Error("timed out waiting for the fake backend");
}

/** A sparse file of `parts` parts of `partSize` zeros (made instantly) in
 *  the stack's files folder; answers its path. */
async function sparseFile(bench, parts, partSize) {
  const file = path.join(bench.stack.filesDir, `sparse-${parts}-parts.bin`);
  const handle = await fsp.open(file, "w");
  await handle.truncate(parts * partSize);
  await handle.close();
  return file;
}

/**
 * Runs `fn({ file, fake, endpoint })` with a sparse file of `parts` parts
 * (sparseFile) and the holding backend (holdingBackend), then stops the
 * backend and deletes the file, forgotten by the page first (it keeps its
 * file picked across reloads); answers what `fn` answers.
 */
export async function withHeldBackend(bench, parts, partSize, fn) {
  const file = await sparseFile(bench, parts, partSize);
  const { fake, endpoint } = await holdingBackend();
  try {
    return await fn({ file, fake, endpoint });
  } finally {
    fake.releaseHeld();
    await fake.stop();
    bench.currentFile = null;
    await fsp.rm(file, { force: true });
  }
}

/** The fake backend (lib/fake-backend.mjs), its part PUTs held unanswered
 *  (so a run stops at its first, to be paused); answers it and the
 *  endpoint to pass to an upload. */
async function holdingBackend() {
  const fake = await startFakeBackend();
  fake.holdPuts = true;
  return { fake, endpoint: `${fake.url}/api/s3` };
}
