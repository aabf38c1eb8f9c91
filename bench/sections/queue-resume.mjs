// Resuming a folder after a reload (issue 13): 1,000 files of 256 KiB go
// through one UploadQueue; once half of them are done the page is reopened
// (a new document: the requests in flight are cut), the same files are
// picked again, and a new queue with the same namespace finishes the batch.
//
// Reported per run: the uploads in flight when the page went away, the
// files sent again (uploads to the store over the whole batch beyond one
// per file), the files the second queue skipped as stored, and how long it
// took. Goal: the files sent again stay within the ones in flight at the
// reload. Every file's object is checked by SHA-256, then deleted.

import { fileSets } from "../lib/many.mjs";
import { fmt, log } from "../lib/util.mjs";

export const id = "queue-resume";
export const title = "A folder resumed after a reload";
export const needsBrowser = true;
export const enabledByDefault = true;

/**
 * Counts the page's uploads to the store (PUT or POST elsewhere than the
 * backend) from CDP Network events: how many were sent, how many ended
 * (answered or failed), and both as they stood when the page's next
 * document was requested (the reload), in the browser's own order of
 * events.
 */
function countUploads(net, backendOrigin) {
  const live = new Set();
  const counts = { sent: 0, ended: 0 };
  let atReload = null;
  const onSent = ({ requestId, request, type }) => {
    if (type === "Document") atReload ??= { ...counts };
    if (!["PUT", "POST"].includes(request.method) || new URL(request.url).origin === backendOrigin) return;
    counts.sent += 1;
    live.add(requestId);
  };
  const onEnd = ({ requestId }) => {
    if (live.delete(requestId)) counts.ended += 1;
  };
  const events = [
    ["Network.requestWillBeSent", onSent],
    ["Network.responseReceived", onEnd],
    ["Network.loadingFailed", onEnd],
  ];
  for (const [name, fn] of events) net.on(name, fn);
  return {
    stop() {
      for (const [name, fn] of events) net.off(name, fn);
      return { ...counts, atReload };
    },
  };
}

/** Starts a queue over the picked files; resolves once `half` are done (the queue runs on). */
function startUntilHalf(page, { namespace, concurrency, half }) {
  return page.evaluate(
    ({ namespace, concurrency, half }) =>
      new Promise((resolve, reject) => {
        const { UploadQueue, files } = window.bench;
        const queue = new UploadQueue({
          endpoint: "/api/s3",
          concurrency,
          checksum: "none",
          namespace,
          onProgress: (p) => p.files.done >= half && resolve(p.files.done),
        });
        queue
          .add(files)
          .then(() => queue.start())
          .then(() => reject(new Error("the batch finished before the reload")), reject);
      }),
    { namespace, concurrency, half },
  );
}

/** A new queue over the picked files, with the same namespace, run to its end. */
function finish(page, { namespace, concurrency }) {
  return page.evaluate(
    async ({ namespace, concurrency }) => {
      const { UploadQueue, files } = window.bench;
      const t0 = performance.now();
      const queue = new UploadQueue({ endpoint: "/api/s3", concurrency, checksum: "none", namespace });
      await queue.add(files);
      const { done, failed } = await queue.start();
      queue.free();
      return {
        seconds: (performance.now() - t0) / 1000,
        done: done.map((d) => ({ name: d.name, key: d.key, skipped: Boolean(d.skipped) })),
        failed: failed.map((f) => `${f.name}: ${f.error?.code}: ${f.error?.message}`),
      };
    },
    { namespace, concurrency },
  );
}

/** Each picked file's object is the file, byte for byte; answers the problems. */
async function checkObjects(bench, set, done) {
  const keys = new Map(done.map((d) => [d.name, d.key]));
  const bad = [];
  for (const file of set.files) {
    const key = keys.get(file.name);
    const stored = key ? await bench.checkS3(key).catch((e) => ({ error: e.message })) : { error: "not done" };
    if (stored.sha256 !== file.sha256) bad.push(`${file.name}: ${stored.error ?? "stored bytes differ"}`);
  }
  return bad;
}

/** One run: half the batch, the page reopened, the rest. */
async function runOnce(ctx, set, run) {
  const { bench } = ctx;
  const namespace = `bench-resume-${run}-${Date.now()}`;
  const half = Math.floor(set.files.length / 2);
  const uploads = countUploads(bench.net, new URL(bench.stack.baseUrl).origin);
  const doneAtReload = await startUntilHalf(bench.page, { namespace, concurrency: ctx.concurrency, half });
  await bench.reopenPage(); // picks the same files again
  const second = await finish(bench.page, { namespace, concurrency: ctx.concurrency });
  const total = uploads.stop();
  const bad = [...second.failed, ...(await checkObjects(bench, set, second.done))];
  return {
    doneAtReload,
    inFlightAtReload: total.atReload.sent - total.atReload.ended,
    sentAgain: total.sent - set.files.length,
    skipped: second.done.filter((d) => d.skipped).length,
    seconds: second.seconds,
    status: bad.length ? "void" : "ok",
    error: bad[0],
  };
}

export async function run(ctx) {
  const { bench, opts } = ctx;
  const set = await ctx.fileSet(fileSets().small);
  await bench.setFiles(set.files.map((f) => f.path));
  const rows = [];
  for (let r = 0; r < opts.runs; r++) {
    const row = await runOnce(ctx, set, r);
    rows.push(row);
    log(
      `queue-resume: run ${r + 1}/${opts.runs}: ${row.status}${row.error ? ` (${row.error})` : ""}; ` +
        `${row.inFlightAtReload} in flight at the reload (${row.doneAtReload} done), ${row.sentAgain} sent again, ${row.skipped} skipped, ${fmt(row.seconds, 1)} s after`,
    );
  }
  const head = ["run", "done at the reload", "uploads in flight at the reload", "files sent again", "skipped after the reload", "seconds after the reload", "objects"];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  rows.forEach((row, i) =>
    lines.push(
      `| ${i + 1} | ${row.doneAtReload} | ${row.inFlightAtReload} | ${row.sentAgain} | ${row.skipped} | ${fmt(row.seconds, 1)} | ${row.status === "ok" ? "all byte-identical" : row.error} |`,
    ),
  );
  const intro =
    `${set.label} through one \`UploadQueue\` (\`concurrency: ${ctx.concurrency}\`, \`checksum: "none"\`); once ${Math.floor(set.files.length / 2)} files are done the page is reopened, ` +
    "the same files are picked again, and a new queue with the same namespace finishes the batch. Uploads are counted from the browser's own network events. Goal: the files sent again stay within the uploads in flight at the reload.";
  return { markdown: `${intro}\n\n${lines.join("\n")}`, json: { concurrency: ctx.concurrency, rows } };
}
