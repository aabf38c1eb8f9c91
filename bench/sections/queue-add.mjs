// Files added one at a time to a running queue (issue 13's many files): a
// page that hands each file to `queue.add()` as it gets it (a drop zone, a
// loop over a list) while the queue sends the earlier ones. One anchor
// file's PUT is held back (Playwright's request routing) so that the run
// goes on through every add, which begin once a first file is stored; the
// others are stored as they are added. Each run adds them twice over, in
// two queues: each `add()` awaited before the next, and all in one loop,
// none awaited (as `for (const f of files) queue.add(f)` does).
//
// Reported per run and way: the time of one `add()` among the first tenth
// of the adds and among the last tenth (not awaited: from the loop's
// start to its promise's end), the whole adding, and the run's end. What
// it guards: an add's cost must not grow with the files the run already
// holds or stored, and adds made together must not each pay for the
// whole queue. Every object is checked by SHA-256 (then deleted).

import { createHash } from "node:crypto";

import { fmt, log, median } from "../lib/util.mjs";

export const id = "queue-add";
export const title = "Files added one at a time to a running queue";
export const needsBrowser = true;
export const enabledByDefault = true;

/** The files added after the anchor, one `add()` each. */
const ADDS = 2_000;

/** The two ways of adding them. */
const WAYS = [
  { awaited: true, label: "each awaited" },
  { awaited: false, label: "one loop, none awaited" },
];

/** File `i`'s bytes, made alike in the page and here. */
const textOf = (i) => `resupload bench file ${i}\n`.repeat(40);

/**
 * In the page: the anchor, then `adds` files one `add()` at a time; the
 * adds' figures. The run goes on as `window.benchRun` (see `runEnd`).
 */
function addOneByOne(page, { namespace, concurrency, adds, awaited, text }) {
  return page.evaluate(
    async ({ namespace, concurrency, adds, awaited, text }) => {
      const textOf = new Function("i", `return (${text})(i)`);
      const file = (name, i) => new File([textOf(i)], name, { lastModified: 1 });
      const { UploadQueue } = window.bench;
      let firstEnded;
      const first = new Promise((resolve) => (firstEnded = resolve));
      const onFile = (f) => f.name === "first.bin" && firstEnded(f);
      // The anchor's PUT must outlast every add: no stall abort (at most 10 min, the option's top).
      const stallTimeout = 600_000;
      const queue = new UploadQueue({ endpoint: "/api/s3", concurrency, checksum: "none", namespace, onFile, stallTimeout });
      await queue.add([file("anchor.bin", -1), file("first.bin", -2)]);
      const t0 = performance.now();
      const ended = queue.start();
      // The adds begin once the run has kept its batch; a run that ends
      // or fails first ends the measure instead of waiting for ever.
      const stopped = ended.then(() => null, (e) => ({ error: { code: e.code, message: e.message } }));
      const firstFile = await Promise.race([first, stopped]);
      if (!firstFile?.key) throw new Error(`first.bin was not stored: ${JSON.stringify(firstFile?.error ?? firstFile)}`);
      const ms = [];
      if (awaited) {
        for (let i = 0; i < adds; i++) {
          const began = performance.now();
          await queue.add([file(`f${i}.bin`, i)]);
          ms.push(performance.now() - began);
        }
      } else {
        const began = performance.now();
        const each = (i) => queue.add([file(`f${i}.bin`, i)]).then(() => (ms[i] = performance.now() - began));
        await Promise.all(Array.from({ length: adds }, (_, i) => each(i)));
      }
      // addingSeconds counts from start(): first.bin's upload is in it.
      window.benchRun = { queue, ended, t0 };
      return { ms, addingSeconds: (performance.now() - t0) / 1000 };
    },
    { namespace, concurrency, adds, awaited, text },
  );
}

/** In the page: the end of the run `addOneByOne` began. */
function runEnd(page) {
  return page.evaluate(async () => {
    const { queue, ended, t0 } = window.benchRun;
    const { done, failed } = await ended;
    queue.free();
    return {
      seconds: (performance.now() - t0) / 1000,
      done: done.map((d) => ({ name: d.name, key: d.key })),
      failed: failed.map((f) => `${f.name}: ${f.error?.code}: ${f.error?.message}`),
    };
  });
}

/** Holds the anchor's PUT back; answers the function that lets it go. */
async function holdAnchor(page) {
  let release;
  const released = new Promise((resolve) => (release = resolve));
  // A held PUT the page gave up on (its stall timeout; it sends again) is
  // no longer there to let go.
  const pass = (r) => r.continue().catch(() => {});
  const route = (r) => (r.request().method() === "PUT" ? released.then(() => pass(r)) : pass(r));
  await page.route("**/anchor.bin?*", route);
  return async () => {
    release();
    await page.unroute("**/anchor.bin?*", route);
  };
}

/** Each object is the file it was added as; answers the problems. */
async function checkObjects(bench, done, adds) {
  const bad = [];
  if (done.length !== adds + 2) bad.push(`${done.length} of ${adds + 2} files stored`);
  for (const { name, key } of done) {
    const i = { "anchor.bin": -1, "first.bin": -2 }[name] ?? Number(name.slice(1, -4));
    const want = createHash("sha256").update(textOf(i)).digest("hex");
    const stored = await bench.checkS3(key).catch((e) => ({ error: e.message }));
    if (stored.sha256 !== want) bad.push(`${name}: ${stored.error ?? "stored bytes differ"}`);
  }
  return bad;
}

async function runOnce(ctx, run, { awaited, label }) {
  const { bench } = ctx;
  await bench.reopenPage();
  const release = await holdAnchor(bench.page);
  const namespace = `bench-add-${run}-${awaited ? "awaited" : "loop"}-${Date.now()}`;
  const adds = ctx.opts.quick ? ADDS / 4 : ADDS;
  const added = await addOneByOne(bench.page, { namespace, concurrency: ctx.concurrency, adds, awaited, text: textOf.toString() });
  await release();
  const result = await runEnd(bench.page);
  const tenth = Math.max(1, Math.floor(adds / 10));
  const bad = [...result.failed, ...(await checkObjects(bench, result.done, adds))];
  return {
    way: label,
    adds,
    firstMs: median(added.ms.slice(0, tenth)),
    lastMs: median(added.ms.slice(-tenth)),
    addingSeconds: added.addingSeconds,
    seconds: result.seconds,
    status: bad.length ? "void" : "ok",
    error: bad[0],
  };
}

export async function run(ctx) {
  const rows = [];
  for (let r = 0; r < ctx.opts.runs; r++) {
    for (const way of WAYS) {
      const row = { run: r + 1, ...(await runOnce(ctx, r, way)) };
      rows.push(row);
      logRow(ctx, row);
    }
  }
  const head = ["run", "way of adding", "files added", "ms per add, first tenth (median)", "ms per add, last tenth (median)", "last ÷ first", "seconds from start() to the last add", "seconds to the run's end", "objects"];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  rows.forEach((row) =>
    lines.push(
      `| ${row.run} | ${row.way} | ${row.adds} | ${fmt(row.firstMs, 2)} | ${fmt(row.lastMs, 2)} | ${fmt(row.lastMs / row.firstMs, 2)} | ${fmt(row.addingSeconds, 1)} | ${fmt(row.seconds, 1)} | ${row.status === "ok" ? "all byte-identical" : row.error} |`,
    ),
  );
  const intro =
    `One \`UploadQueue\` (\`concurrency: ${ctx.concurrency}\`, \`checksum: "none"\`, \`stallTimeout: 600_000\`) of one anchor file whose PUT is held back and one small file, started; once the small file is stored, ${rows[0]?.adds ?? ADDS} files of 1 KiB ` +
    "handed to `add()` one at a time while the run stores them, each awaited, and (in a second queue) all in one loop, none awaited; then the anchor is let go and the run ends. " +
    "An add not awaited is timed from the loop's start to its promise's end. Goal: the last adds cost what the first did, and adds made together do not each pay for the whole queue.";
  return { markdown: `${intro}\n\n${lines.join("\n")}`, json: { concurrency: ctx.concurrency, rows } };
}

function logRow(ctx, row) {
  log(
    `queue-add: run ${row.run}/${ctx.opts.runs}, ${row.way}: ${row.status}${row.error ? ` (${row.error})` : ""}; ` +
      `${fmt(row.firstMs, 2)} ms per add at first, ${fmt(row.lastMs, 2)} ms at the end, ${fmt(row.addingSeconds, 1)} s adding, ${fmt(row.seconds, 1)} s in all`,
  );
}
