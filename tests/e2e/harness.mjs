// Starts and stops everything one end-to-end test file needs:
//
//   Garage (scripts/garage.sh, in a temp dir, on free loopback ports)
//     ^ a StoreGate proxy (lets tests hold part uploads back)
//       ^ the dev server (--debug-routes, S3_ENDPOINT = the gate)
//         ^ a browser with a persistent profile (IndexedDB survives reloads):
//           any engine of browsers.mjs (Chromium, Firefox, WebKitGTK, WPE)
//
// Every wait has a timeout, and whatever was started is stopped by
// `stop()`, on exit, on SIGINT/SIGTERM, and by a watchdog process if this
// process dies without a chance to clean up. Scratch files live under the
// system's temp folder (never under tests/, where the test runner looks).
//
// Environment:
//   RESUPLOAD_SERVER_BIN  the dev server binary (default target/debug/resupload-dev-server)
//   RESUPLOAD_PKG_DIR     the wasm package directory served at /pkg/ (default pkg)
//   E2E_BROWSER           chromium (default), firefox, webkit or wpe (see browsers.mjs)
//   E2E_KEEP_TMP=1        keep the temp dir (Garage log, server log) after the run
//   E2E_FILE_TIMEOUT_MS   a test file running longer is stopped (default 15 minutes)

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { launchBrowser, withTimeout } from "./browsers.mjs";
import { freePort } from "./loopback.mjs";
import { StoreGate } from "./store-gate.mjs";

export { withTimeout };

export const MIB = 1024 * 1024;
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TMP_ROOT = path.join(os.tmpdir(), "resupload-e2e");

const GARAGE_START_TIMEOUT = 120_000;
const GARAGE_STOP_TIMEOUT = 40_000;
const SERVER_START_TIMEOUT = 30_000;
const BROWSER_LAUNCH_TIMEOUT = 90_000;
/** A test file that runs longer than this is stopped, whatever it does. */
const FILE_TIMEOUT = Number(process.env.E2E_FILE_TIMEOUT_MS || 15 * 60_000);

// ------------------------------------------------------------- utilities

export function log(message) {
  process.stderr.write(`${message}\n`);
}

/** Polls `fn` until it returns a truthy value; fails after `timeout` ms. */
export async function waitUntil(fn, { timeout = 10_000, interval = 50, what = "a condition" } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ""}`);
    }
    await sleep(interval);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a command to its end; rejects on a non-zero exit or after `timeout`. */
export function run(command, args, { timeout, env, cwd = REPO } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} took more than ${timeout} ms:\n${output}`));
    }, timeout);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}

function parseEnvFile(text) {
  const env = {};
  for (const line of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return env;
}

/**
 * Writes `size` random bytes to `dir/name`, hashing them on the way.
 * Returns { path, name, size, sha256 }.
 */
export async function makeRandomFile(dir, name, size) {
  const file = path.join(dir, name);
  const hash = createHash("sha256");
  const handle = await fsp.open(file, "w");
  try {
    let left = size;
    while (left > 0) {
      const chunk = randomBytes(Math.min(left, 4 * MIB));
      hash.update(chunk);
      await handle.write(chunk);
      left -= chunk.length;
    }
  } finally {
    await handle.close();
  }
  return { path: file, name, size, sha256: hash.digest("hex") };
}

// ------------------------------------------------- emergency cleanup

// What must die with this process, whatever happens: pids we started
// (negative: a process group).
const livePids = new Set();
const liveDirs = new Set();

function emergencyCleanup() {
  for (const pid of livePids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  livePids.clear();
  if (process.env.E2E_KEEP_TMP !== "1") {
    for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
  liveDirs.clear();
}

let exitHooksInstalled = false;
function installExitHooks() {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once("exit", emergencyCleanup);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(signal, () => {
      log(`harness: ${signal}: stopping everything`);
      emergencyCleanup();
      process.exit(130);
    });
  }
}

/**
 * The dev server's own settings (server/src/db.rs, config.rs, auth.rs): a
 * test's server takes those its test gives, never the shell's (a
 * DATABASE_URL kept for another app would move every test's table there,
 * a JWT secret would turn sign-in on).
 */
const SERVER_SETTINGS = /^(DATABASE_URL|S3_CORS_ORIGINS|AUTH_JWT_\w+)$/;

/** `env` without the dev server's own settings. */
function withoutServerSettings(env) {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !SERVER_SETTINGS.test(name)));
}

/**
 * A detached shell that outlives a SIGKILLed test process: once the parent
 * is gone it kills the pids listed in `pidFile` (the dev server, Garage;
 * `-pid` for a process group: a WebDriver server and its browser) and
 * removes the temp dir.
 */
function startWatchdog(pidFile, tmpDir) {
  const script = `
    parent=$1; pids=$2; dir=$3; keep=$4
    while kill -0 "$parent" 2>/dev/null; do sleep 1; done
    if [ -f "$pids" ]; then
      while read -r pid; do
        case "$pid" in ''|-|*[!0-9-]*|?*-*) ;; *) kill -9 -- "$pid" 2>/dev/null ;; esac
      done < "$pids"
    fi
    [ "$keep" = 1 ] || rm -rf "$dir"
  `;
  const child = spawn(
    "bash",
    ["-c", script, "watchdog", String(process.pid), pidFile, tmpDir, process.env.E2E_KEEP_TMP === "1" ? "1" : "0"],
    { detached: true, stdio: "ignore" },
  );
  child.unref();
  return child;
}

// ------------------------------------------------------------------ stack

/** A scratch folder for one test file, with its watchdog and its pid list. */
async function makeScratch(label) {
  await fsp.mkdir(TMP_ROOT, { recursive: true });
  const tmpDir = await fsp.mkdtemp(path.join(TMP_ROOT, `${label}-`));
  liveDirs.add(tmpDir);
  const pidFile = path.join(tmpDir, "pids");
  await fsp.writeFile(pidFile, "");
  const watchdog = startWatchdog(pidFile, tmpDir);
  const notePid = (pid) => {
    livePids.add(pid);
    fs.appendFileSync(pidFile, `${pid}\n`);
  };
  return { tmpDir, notePid, watchdog };
}

/** Starts a Garage node keeping its data in `dir`; answers its store settings (s3.env). */
async function startGarage(dir, notePid) {
  for (let attempt = 1; ; attempt += 1) {
    const ports = [await freePort(), await freePort(), await freePort()];
    try {
      await run("bash", [path.join(REPO, "scripts/garage.sh"), "start", dir, ...ports.map(String)], {
        timeout: GARAGE_START_TIMEOUT,
      });
      break;
    } catch (error) {
      if (attempt >= 3 || !/already in use/.test(error.message)) {
        const logTail = await fsp.readFile(path.join(dir, "garage.log"), "utf8").catch(() => "");
        throw new Error(`${error.message}\n--- garage.log (tail) ---\n${logTail.split("\n").slice(-30).join("\n")}`);
      }
    }
  }
  const pid = Number((await fsp.readFile(path.join(dir, "garage.pid"), "utf8")).trim());
  if (pid > 0) notePid(pid);
  const env = parseEnvFile(await fsp.readFile(path.join(dir, "s3.env"), "utf8"));
  for (const name of ["S3_ENDPOINT", "S3_BUCKET", "S3_REGION", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]) {
    if (!env[name]) throw new Error(`${dir}/s3.env has no ${name}`);
  }
  return env;
}

async function stopGarage(dir) {
  await run("bash", [path.join(REPO, "scripts/garage.sh"), "stop", dir], { timeout: GARAGE_STOP_TIMEOUT });
}

/**
 * Starts a dev server (`--debug-routes`) serving `www` against the store in
 * `env`; answers `{ process, baseUrl }` once it prints its URL. Its output
 * goes to `logFile`.
 */
export async function startServer({ env, www = path.join(REPO, "www"), logFile, notePid, args = [] }) {
  const serverBin = path.resolve(REPO, process.env.RESUPLOAD_SERVER_BIN || "target/debug/resupload-dev-server");
  const pkgDir = path.resolve(REPO, process.env.RESUPLOAD_PKG_DIR || "pkg");
  if (!fs.existsSync(serverBin)) {
    throw new Error(`no dev server binary at ${serverBin}: run \`cargo build -p resupload-dev-server\` (or set RESUPLOAD_SERVER_BIN)`);
  }
  if (!["resupload.js", "pending/resupload.js", "queue/resupload.js"].every((file) => fs.existsSync(path.join(pkgDir, file)))) {
    throw new Error(`no wasm package at ${pkgDir}: run \`npm run build\` (or set RESUPLOAD_PKG_DIR)`);
  }
  const out = fs.createWriteStream(logFile);
  // Each dev server keeps its own SQLite file (beside its log), unless
  // `env` names a DATABASE_URL or `args` another --data-dir.
  const dataDir = `${logFile.replace(/\.log$/, "")}-data`;
  const child = spawn(serverBin, ["--debug-routes", "--listen", "127.0.0.1:0", "--www", www, "--pkg", pkgDir, "--data-dir", dataDir, ...args], {
    cwd: REPO,
    env: { ...withoutServerSettings(process.env), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  notePid(child.pid);
  child.stderr.on("data", (data) => {
    out.write(data);
    for (const line of String(data).split("\n")) {
      if (/^(error|warning)/i.test(line)) log(`[server] ${line}`);
    }
  });
  const baseUrl = await withTimeout(
    new Promise((resolve, reject) => {
      let printed = "";
      child.stdout.on("data", (data) => {
        out.write(data);
        printed += data;
        const m = /resupload dev server: (http:\/\/\S+?)\/?\s*$/m.exec(printed);
        if (m) resolve(m[1]);
      });
      child.once("exit", (code, signal) =>
        reject(new Error(`the dev server exited (${signal ?? `exit ${code}`}) before it was ready; see ${logFile}:\n${fs.readFileSync(logFile, "utf8").slice(-3000)}`)),
      );
      child.once("error", reject);
    }),
    SERVER_START_TIMEOUT,
    "the dev server to print its URL",
  );
  return { process: child, baseUrl };
}

async function stopServer(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await withTimeout(exited, 10_000, "the dev server to exit").catch((error) => {
      child.kill("SIGKILL");
      throw error;
    });
  }
  livePids.delete(child.pid);
}

/**
 * Starts Garage, the gate, the dev server and a browser.
 *
 * @param {{ browser?: string, label?: string, withGate?: boolean }} [options]
 */
export async function startStack({ browser = process.env.E2E_BROWSER || "chromium", label = "e2e", withGate = true } = {}) {
  installExitHooks();
  const { tmpDir, notePid, watchdog } = await makeScratch(label);
  const garageDir = path.join(tmpDir, "garage");
  const profileDir = path.join(tmpDir, "profile");
  const filesDir = path.join(tmpDir, "files");
  await Promise.all([fsp.mkdir(profileDir), fsp.mkdir(filesDir)]);

  // A file must never hang the run: past FILE_TIMEOUT everything stops.
  const fileTimer = setTimeout(() => {
    log(`harness: the test file ran for more than ${FILE_TIMEOUT} ms: stopping everything`);
    emergencyCleanup();
    process.exit(1);
  }, FILE_TIMEOUT);
  fileTimer.unref();

  const stack = { tmpDir, filesDir, notePid, browserName: browser };
  const started = { garage: false, servers: [], gate: null, browser: null };
  let stopped = false;

  stack.stop = async () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(fileTimer);
    const problems = [];
    const attempt = async (what, fn) => {
      try {
        await fn();
      } catch (error) {
        problems.push(`${what}: ${error.message}`);
      }
    };
    if (started.browser) await attempt("closing the browser", () => (started.browser.dispose ?? started.browser.close).call(started.browser));
    for (const server of started.servers) await attempt("stopping a dev server", () => stopServer(server));
    if (started.gate) await attempt("stopping the store gate", () => withTimeout(started.gate.stop(), 10_000, "the gate to close"));
    if (started.garage) await attempt("stopping Garage", () => stopGarage(garageDir));
    for (const pid of livePids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    livePids.clear();
    try {
      process.kill(watchdog.pid, "SIGKILL");
    } catch {
      // gone
    }
    if (process.env.E2E_KEEP_TMP === "1") {
      log(`harness: kept ${tmpDir}`);
    } else {
      await fsp.rm(tmpDir, { recursive: true, force: true });
    }
    liveDirs.delete(tmpDir);
    if (problems.length > 0) log(`harness: trouble while stopping: ${problems.join("; ")}`);
  };

  try {
    started.garage = true;
    const storeEnv = await startGarage(garageDir, notePid);
    stack.storeEnv = storeEnv;
    stack.garageEndpoint = storeEnv.S3_ENDPOINT;
    // The gate in front of the store (benchmarks go to Garage directly).
    if (withGate) {
      started.gate = new StoreGate(storeEnv.S3_ENDPOINT);
      await started.gate.start();
      stack.gate = started.gate;
    }
    stack.storeOrigin = withGate ? stack.gate.url : new URL(storeEnv.S3_ENDPOINT).origin;
    stack.serverEnv = { ...storeEnv, S3_ENDPOINT: withGate ? stack.gate.url : storeEnv.S3_ENDPOINT };

    /**
     * Starts one more dev server on the same store (serving `www`, with
     * extra `env` and `args`). A name used before (a test's second try)
     * gets a number, so each server has its own log and SQLite file.
     */
    const names = new Map();
    stack.startServer = async ({ www, env = {}, args = [], name = `server-${started.servers.length + 1}` } = {}) => {
      const uses = (names.get(name) ?? 0) + 1;
      names.set(name, uses);
      const server = await startServer({
        env: { ...stack.serverEnv, ...env },
        www,
        args,
        logFile: path.join(tmpDir, uses === 1 ? `${name}.log` : `${name}-${uses}.log`),
        notePid,
      });
      started.servers.push(server.process);
      return server;
    };
    stack.baseUrl = (await stack.startServer({ name: "server" })).baseUrl;

    started.browser = await withTimeout(launchBrowser(browser, { profileDir, notePid }), BROWSER_LAUNCH_TIMEOUT, `launching ${browser}`);
    stack.browser = started.browser;
    stack.tab = stack.browser.tabs[0];
    // Chromium's Playwright objects, for the tests that intercept requests.
    if (browser === "chromium") {
      stack.context = stack.browser.context;
      stack.page = stack.tab.page;
    }
  } catch (error) {
    await stack.stop();
    throw error;
  }
  Object.defineProperty(stack, "browserErrors", { get: () => stack.browser.errors });
  addHelpers(stack);
  log(`harness: ${stack.browserName} ${stack.browser.version} on ${stack.baseUrl} (store ${stack.garageEndpoint} behind gate ${stack.storeOrigin})`);
  return stack;
}

/** The helpers a test uses on a running stack. */
function addHelpers(stack) {
  /** Random file of `size` bytes in the stack's temp dir. */
  stack.makeFile = (name, size) => makeRandomFile(stack.filesDir, name, size);

  /** The demo page URL with these query options. */
  stack.demoUrl = (params = {}) => {
    const url = new URL("/", stack.baseUrl);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
    return url.href;
  };

  /** GET a JSON route of the dev server: { status, body }. */
  stack.getJson = async (route, base = stack.baseUrl) => {
    const response = await withTimeout(fetch(new URL(route, base), { cache: "no-store" }), 30_000, `GET ${route}`);
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  };

  stack.debug = {
    /** { size, sha256, contentType, metadata } of a stored object, or null if there is none. */
    async object(key) {
      const { status, body } = await stack.getJson(`/api/debug/object?key=${encodeURIComponent(key)}`);
      if (status === 404) return null;
      if (status !== 200) throw new Error(`/api/debug/object answered ${status}: ${JSON.stringify(body)}`);
      return body;
    },
    /** The multipart uploads in progress: [{ key, uploadId }]. */
    async uploads() {
      const { status, body } = await stack.getJson("/api/debug/uploads");
      if (status !== 200) throw new Error(`/api/debug/uploads answered ${status}: ${JSON.stringify(body)}`);
      return body.uploads;
    },
    /** The parts the store holds for an upload: [{ PartNumber, Size, ETag }]. */
    async parts(key, uploadId) {
      const { status, body } = await stack.getJson(
        `/api/s3/multipart/${encodeURIComponent(uploadId)}?key=${encodeURIComponent(key)}`,
      );
      if (status !== 200) throw new Error(`listing the parts of ${key} answered ${status}: ${JSON.stringify(body)}`);
      return body;
    },
    async abortAll() {
      const response = await fetch(new URL("/api/debug/abort-all", stack.baseUrl), { method: "POST" });
      if (!response.ok) throw new Error(`/api/debug/abort-all answered ${response.status}`);
      return response.json();
    },
  };
}
