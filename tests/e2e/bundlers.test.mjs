// The package as users get it: the `npm pack` tarball of pkg/, checked by
// publint and @arethetypeswrong/cli, imported under Node (as server-side
// rendering does) without touching a browser global, and installed into the
// Vite and webpack examples (examples/), whose production builds upload a
// file with checksums, hashed by the hash worker (the staging
// copy worker emitted beside it): as written
// (`resupload`), and importing from `resupload/pending` and from
// `resupload/queue`; and the Vite example under `vite` (the dev server,
// which pre-bundles the package). In Firefox and the WebKit engines
// (E2E_BROWSER), the builds of `resupload` and the dev server upload the
// same way.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";

import { MIB, REPO, log, run, startStack, waitUntil, withTimeout } from "./harness.mjs";
import { installHelpers, pageActivity } from "./in-page.mjs";
import { freePort } from "./loopback.mjs";

const BIN = path.join(REPO, "node_modules/.bin");
// Chromium runs every test here; the other engines (scripts/test.sh) load
// both bundlers' builds of `resupload`, as each entry's workers are the
// same code.
const CHROMIUM = (process.env.E2E_BROWSER || "chromium") === "chromium";

let stack;
let tarball;
before(async () => {
  stack = await startStack({ label: `bundlers-${process.env.E2E_BROWSER || "chromium"}` });
  const packed = await run("npm", ["pack", path.join(REPO, "pkg"), "--pack-destination", stack.tmpDir, "--json"], { timeout: 60_000 });
  tarball = path.join(stack.tmpDir, JSON.parse(packed.slice(packed.indexOf("[")))[0].filename);
});
after(async () => {
  await stack?.stop();
});

/** `dir/node_modules/resupload`, from the tarball, as npm installs it. */
async function install(dir) {
  const target = path.join(dir, "node_modules/resupload");
  await fsp.mkdir(target, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", target, "--strip-components=1"], { timeout: 30_000 });
}

test("publint and arethetypeswrong find nothing wrong with the tarball", { timeout: 120_000, skip: !CHROMIUM && "the tarball is checked once, in the Chromium run" }, async () => {
  const lint = await run(path.join(BIN, "publint"), ["run", tarball, "--strict"], { timeout: 60_000 });
  log(lint.trim());
  assert.match(lint, /All good!/);
  // An ESM-only package: require() from CommonJS is not a target. attw
  // exits non-zero on any other problem.
  const types = await run(path.join(BIN, "attw"), [tarball, "--profile", "esm-only", "--format", "ascii", "--no-color"], { timeout: 60_000 });
  log(types.trim());
  assert.match(types, /"resupload"\s+node16 \(from ESM\): 🟢 \(ESM\)\s+bundler: 🟢/);
  assert.match(types, /"resupload\/queue"\s+node16 \(from ESM\): 🟢 \(ESM\)\s+bundler: 🟢/);
});

test("importing any entry under Node touches no browser global; the queue is in resupload/queue only", { timeout: 60_000, skip: !CHROMIUM && "checked once, in the Chromium run" }, async () => {
  const dir = path.join(stack.tmpDir, "ssr");
  await install(dir);
  const script = `
    const touched = [];
    for (const name of ["window", "self", "document", "navigator", "location", "indexedDB", "Worker",
                        "XMLHttpRequest", "fetch", "localStorage", "crypto", "Blob", "File"]) {
      Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); } });
    }
    const exports = {};
    for (const entry of ["resupload", "resupload/pending", "resupload/queue"]) exports[entry] = Object.keys(await import(entry)).sort();
    console.log(JSON.stringify({ touched, exports }));
  `;
  const out = JSON.parse(await run(process.execPath, ["--input-type=module", "-e", script], { cwd: dir, timeout: 30_000 }));
  assert.deepEqual(out.touched, [], "no browser global is read at import time");
  const { resupload, "resupload/pending": pending, "resupload/queue": queue } = out.exports;
  for (const [entry, names] of [["resupload", resupload], ["resupload/pending", pending]]) {
    for (const name of ["Upload", "default"]) assert.ok(names.includes(name), `${entry} exports ${name}: ${names}`);
    assert.ok(!names.includes("UploadQueue"), `${entry} leaves UploadQueue to resupload/queue: ${names}`);
  }
  for (const name of ["Upload", "UploadQueue", "default"]) assert.ok(queue.includes(name), `resupload/queue exports ${name}: ${queue}`);
});

/** The example's source files that import the package. */
const SOURCES = { vite: ["main.js"], webpack: ["src/main.js"] };

/**
 * Copies examples/`name` and installs the tarball into it; answers the
 * copy's folder. With another `entry` ("resupload/pending",
 * "resupload/queue"), the copy imports `Upload` from it instead (the same
 * app, against that build and its own copy of the hash worker).
 */
async function copyExample(name, entry, label = "") {
  const dir = path.join(stack.tmpDir, `${name}-${entry.replace("/", "-")}${label}`);
  await fsp.cp(path.join(REPO, "examples", name), dir, {
    recursive: true,
    filter: (source) => !["node_modules", "dist"].includes(path.basename(source)),
  });
  for (const source of SOURCES[name]) {
    const file = path.join(dir, source);
    const text = await fsp.readFile(file, "utf8");
    assert.match(text, /from "resupload";/, `${name}/${source} imports the package`);
    await fsp.writeFile(file, text.replace('from "resupload";', `from "${entry}";`));
  }
  await install(dir);
  return dir;
}

/** [`copyExample`], then the copy's own `npm run build`; answers its dist/. */
async function buildExample(name, entry) {
  const dir = await copyExample(name, entry);
  // The bundlers are the repository's devDependencies (the versions the examples ask for).
  const built = await run("npm", ["run", "build"], { cwd: dir, timeout: 180_000, env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` } });
  log(built.trim().split("\n").slice(-6).join("\n"));
  return path.join(dir, "dist");
}

/**
 * The staging copy worker (copy_worker.js, which Chromium never starts: its
 * pages can write files themselves) is emitted by the bundler as an asset
 * of its own, as the hash worker is, not folded into the page's code.
 */
async function assertCopyWorkerEmitted(dist) {
  const files = (await fsp.readdir(dist, { recursive: true })).filter((f) => f.endsWith(".js"));
  const texts = await Promise.all(files.map((f) => fsp.readFile(path.join(dist, f), "utf8")));
  const writers = files.filter((_, i) => texts[i].includes("createSyncAccessHandle"));
  assert.equal(writers.length, 1, `one copy worker among ${JSON.stringify(files)}`);
  const worker = texts[files.indexOf(writers[0])];
  assert.ok(!worker.includes("createWritable"), `${writers[0]} is the worker alone, not the page's code`);
}

const ENTRIES = CHROMIUM ? ["resupload", "resupload/pending", "resupload/queue"] : ["resupload"];
const BUILDS = ENTRIES.flatMap((entry) => [["vite", entry], ["webpack", entry]]);

/**
 * Opens the example app at `appUrl` in the stack's tab, picks a 4-part
 * file and checks that it uploads byte-identical with checksums, hashed by
 * one hash worker of its own (an asset, not the app's entry chunk), with
 * no warning or error. `app` names the file.
 */
async function assertExampleUploads(appUrl, app) {
  const tab = stack.tab;
  await tab.goto(appUrl);
  // From here on the page's workers and console are watched (the app
  // starts its hash worker at the first part it hashes).
  await installHelpers(tab);
  const script = await tab.evaluate(() => document.querySelector("script[src]").src);
  const file = await stack.makeFile(`${app} upload.bin`, 3 * 8 * MIB + 12_345); // 4 parts of the default 8 MiB
  const mark = stack.gate.mark();
  await tab.pickFiles("#file", [file.path]);
  const report = await waitUntil(
    () => tab.evaluate(() => (window.exampleReport.result || window.exampleReport.error ? window.exampleReport : null)),
    { timeout: 180_000, interval: 200, what: `the ${app} app's upload to end` },
  );
  assert.equal(report.error, null, JSON.stringify(report.error));
  assert.deepEqual(report.warnings, [], "no warning (CHECKSUM_UNSUPPORTED, storage, ...)");
  assert.match(report.result.checksumSha256, /-4$/, "the object's composite SHA-256, confirmed by the store");
  const object = await stack.debug.object(report.result.key);
  assert.equal(object.sha256, file.sha256, "the stored object is the file, byte for byte");
  assert.deepEqual(stack.gate.since(mark).map((p) => p.state), Array(4).fill("done"));

  const { workers, consoleWarnings, consoleErrors } = await pageActivity(tab);
  assert.equal(workers.length, 1, `one hash worker: ${JSON.stringify(workers)}`);
  const worker = new URL(workers[0], appUrl).href;
  assert.notEqual(worker, script, "the worker is its own asset, not the app's entry chunk");
  assert.equal(new URL(worker).origin, new URL(script).origin);
  const fallback = consoleWarnings.filter((line) => /hash worker|page's thread/.test(line));
  assert.deepEqual(fallback, [], "the worker hashed every part: no fallback to the page's thread");
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(await tab.errors(), [], "no uncaught error in a page");
}

for (const [name, entry] of BUILDS) {
  test(`the ${name} example, built from the tarball with ${entry}, uploads with checksums hashed by the hash worker`, { timeout: 300_000 }, async () => {
    const dist = await buildExample(name, entry);
    const app = path.basename(path.dirname(dist)); // name-entry
    const server = await stack.startServer({ www: dist, name: `server-${app}` });
    await assertExampleUploads(`${server.baseUrl}/`, app);
    await assertCopyWorkerEmitted(dist);
  });
}

test("the vite example under Vite's dev server (its dependency pre-bundling) uploads with checksums hashed by the hash worker", { timeout: 300_000 }, async () => {
  // `vite` (dev) serves the package pre-bundled by its optimizer, where
  // the wasm module's and the workers' URLs must still resolve. The
  // settings are the app's own, as for any page on a new origin: a proxy
  // to its signing backend, and the bucket's CORS rule allowing the origin.
  // (S3_CORS_ORIGINS replaces the rule's origins: the stack's own is kept.)
  const dir = await copyExample("vite", "resupload", "-dev");
  // The store lets the page's origin PUT parts (the bucket's CORS rule),
  // so Vite's port is chosen before the backend starts.
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const env = { S3_CORS_ORIGINS: `${origin},${stack.baseUrl}` };
  const backend = await stack.startServer({ www: dir, env, name: "server-vite-dev" });
  const config = { server: { proxy: { "/api": backend.baseUrl } } };
  await fsp.writeFile(path.join(dir, "vite.config.js"), `export default ${JSON.stringify(config)};\n`);
  const vite = await startViteDev(dir, port);
  try {
    await assertExampleUploads(`${vite.url}/`, "vite-dev");
  } finally {
    await vite.stop();
  }
});

/**
 * Starts `vite` (the dev server) in `dir` on loopback `port`; answers
 * `{ url, stop }` once it prints its URL, and fails at once if it exits
 * before (the port taken meanwhile, say). `stop()` ends it and waits.
 */
async function startViteDev(dir, port) {
  const args = ["--host", "127.0.0.1", "--port", String(port), "--strictPort", "--clearScreen", "false"];
  const child = spawn(path.join(BIN, "vite"), args, {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  stack.notePid(child.pid);
  let printed = "";
  for (const stream of [child.stdout, child.stderr]) stream.on("data", (data) => (printed += data));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? `exit ${code}`)));
  const url = await waitUntil(
    async () => {
      const url = /Local:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(printed)?.[1];
      if (!url && child.exitCode !== null) throw new Error(`vite exited (${await exited}) before it was ready`);
      return url;
    },
    { timeout: 60_000, interval: 100, what: "vite to print its URL" },
  ).catch((error) => {
    child.kill("SIGKILL");
    throw new Error(`${error.message}; it printed: ${printed}`);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await withTimeout(exited, 10_000, "vite to exit").catch(() => child.kill("SIGKILL"));
  };
  return { url, stop };
}
