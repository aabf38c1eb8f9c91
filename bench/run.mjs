// The comparison benchmark (issue 5): resupload beside a raw fetch baseline,
// Uppy (@uppy/aws-s3), the AWS SDK's lib-storage and tus-js-client, in one
// headless Chromium run against a Garage node and the dev server on
// loopback. Prints the report and writes it to bench/results.md and
// bench/results.json.
//
//   npm run bench [-- flags]        (scripts/bench.sh: set-up, then this)
//   node bench/run.mjs [flags]      (when everything is built already)
//
// Flags: node bench/run.mjs --help. Sections: bench/sections/; clients:
// bench/clients/; see bench/README.md.

import "./lib/env.mjs"; // first: before anything loads the e2e harness

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { CLIENTS, CLIENT_IDS, clientVersions } from "./clients/index.mjs";
import { USAGE, parseArgs } from "./lib/args.mjs";
import { makeFileSet } from "./lib/many.mjs";
import { REPO, startBench } from "./lib/stack.mjs";
import { MIB, log, makeZeroFile } from "./lib/util.mjs";
import { SECTIONS } from "./sections/index.mjs";

const PART_SIZE = 8 * MIB;
const CONCURRENCY = 4;

const argv = process.argv.slice(2);
let opts;
try {
  opts = parseArgs(argv, { clientIds: CLIENT_IDS, sectionIds: SECTIONS.map((s) => s.id) });
} catch (error) {
  console.error(error.message);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const sections = SECTIONS.filter((s) => (opts.sections ? opts.sections.includes(s.id) : s.enabledByDefault && !opts.skip.has(s.id)));
const clients = opts.only ? CLIENTS.filter((c) => opts.only.includes(c.id)) : CLIENTS.filter((c) => !c.onlyWhenNamed);
const started = Date.now();

let bench = null;
const outputs = [];
let failed = false;
try {
  if (sections.some((s) => s.needsBrowser)) bench = await startBench();
  const files = new Map();
  const ctx = {
    opts,
    bench,
    clients,
    partSize: PART_SIZE,
    concurrency: CONCURRENCY,
    /** A file of random bytes of this many MiB (made once per bench run). */
    async randomFile(sizeMiB) {
      const name = `random-${sizeMiB}MiB.bin`;
      if (!files.has(name)) {
        log(`making ${name}…`);
        files.set(name, await bench.stack.makeFile(name, sizeMiB * MIB));
      }
      return files.get(name);
    },
    /** The files of a many-files set (bench/lib/many.mjs), made once per bench run. */
    async fileSet(def) {
      const name = `set:${def.id}:${def.label}`;
      if (!files.has(name)) {
        log(`making the files of ${def.label}…`);
        const t0 = Date.now();
        files.set(name, await makeFileSet(bench.stack.filesDir, def));
        log(`  ${files.get(name).files.length} files, ${Math.round(files.get(name).totalBytes / MIB)} MiB, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      return files.get(name);
    },
    /** A sparse file of zeros of this many MiB. */
    async zeroFile(sizeMiB) {
      const name = `zeros-${sizeMiB}MiB.bin`;
      if (!files.has(name)) {
        log(`making ${name} (sparse)…`);
        files.set(name, await makeZeroFile(path.join(bench.stack.filesDir, name), sizeMiB * MIB));
      }
      return files.get(name);
    },
  };
  for (const section of sections) {
    log(`\n== ${section.title}`);
    const t0 = Date.now();
    try {
      const out = await section.run(ctx);
      outputs.push({ id: section.id, title: section.title, seconds: (Date.now() - t0) / 1000, ...out });
    } catch (error) {
      failed = true;
      log(`section ${section.id} failed: ${error.stack ?? error}`);
      outputs.push({ id: section.id, title: section.title, markdown: `_This section failed: ${String(error.message).split("\n")[0]}_`, json: { error: String(error.message) } });
    }
  }
  const machine = await describeMachine(bench);
  const report = render(machine, outputs);
  console.log(`\n${report.markdown}`);
  const out = path.resolve(REPO, opts.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(`${out}.md`, report.markdown);
  fs.writeFileSync(`${out}.json`, `${JSON.stringify(report.json, null, 2)}\n`);
  log(`wrote ${path.relative(REPO, out)}.md and .json (${formatDuration(Date.now() - started)})`);
} catch (error) {
  failed = true;
  log(`bench: ${error.stack ?? error}`);
} finally {
  if (bench) await bench.stop();
}
process.exit(failed ? 1 : 0);

async function describeMachine(bench) {
  const cpus = os.cpus();
  let chromium = "?";
  if (bench) {
    const cdp = await bench.cdp();
    chromium = (await cdp.send("Browser.getVersion")).product;
    await cdp.detach().catch(() => {});
  }
  let commit = "?";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"], { cwd: REPO, encoding: "utf8" }).trim();
    if (dirty) commit += " (with uncommitted changes in src/)";
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    cores: cpus.length,
    cpu: cpus[0]?.model?.trim() ?? "?",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    chromium,
    node: process.version,
    resupload: commit,
    versions: clientVersions(),
    command: `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`,
    durationSeconds: Math.round((Date.now() - started) / 1000),
  };
}

function render(machine, outputs) {
  const head = [
    "# Comparison benchmark",
    "",
    `${machine.date.slice(0, 16).replace("T", " ")} UTC · ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB RAM, ${machine.os} · ` +
      `${machine.chromium.replace("/", " ")} headless (playwright-core ${machine.versions["playwright-core"]}) · Node ${machine.node} · resupload ${machine.resupload} · ` +
      "Garage 2.5.0 (one node) and the dev server on loopback, on the same machine as the browser.",
    "",
    `\`${machine.command}\` took ${formatDuration(machine.durationSeconds * 1000)}.`,
  ];
  const body = outputs.map((o) => `## ${o.title}\n\n${o.markdown}`);
  return {
    markdown: `${[head.join("\n"), ...body].join("\n\n")}\n`,
    json: { machine, sections: Object.fromEntries(outputs.map((o) => [o.id, { title: o.title, seconds: o.seconds, ...o.json }])) },
  };
}

function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
