// Starts and stops everything one end-to-end test file needs:
//
//   Garage (scripts/garage.sh, in a temp dir, on free loopback ports)
//     ^ a StoreGate proxy (lets tests hold part uploads back)
//       ^ the dev server (--debug-routes, S3_ENDPOINT = the gate)
//         ^ a browser with a persistent profile (IndexedDB survives reloads)
//
// Every wait has a timeout, and whatever was started is stopped by
// `stop()`, on exit, on SIGINT/SIGTERM, and by a watchdog process if this
// process dies without a chance to clean up.
//
// Environment:
//   RESUPLOAD_SERVER_BIN  the dev server binary (default target/debug/resupload-dev-server)
//   RESUPLOAD_PKG_DIR     the wasm package directory served at /pkg/ (default pkg)
//   E2E_BROWSER           which entry of `browsers` to launch (default chromium)
//   CHROMIUM              the Chromium binary (default /usr/bin/chromium)
//   E2E_KEEP_TMP=1        keep the temp dir (Garage log, server log) after the run

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { StoreGate } from "./store-gate.mjs";

export const MIB = 1024 * 1024;
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TMP_ROOT = path.join(REPO, "tests/e2e/.tmp");

const GARAGE_START_TIMEOUT = 120_000;
const GARAGE_STOP_TIMEOUT = 40_000;
const SERVER_START_TIMEOUT = 30_000;
const BROWSER_LAUNCH_TIMEOUT = 60_000;
/** A test file that runs longer than this is stopped, whatever it does. */
const FILE_TIMEOUT = Number(process.env.E2E_FILE_TIMEOUT_MS || 15 * 60_000);

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/**
 * The browsers a stack can run. Each entry launches a browser with a
 * persistent profile in `userDataDir` and returns `{ name, context, close }`
 * where `context` is a Playwright BrowserContext (pages, routes, request
 * events). Firefox and WebKit cannot run under playwright-core here (they need
 * Playwright's patched builds); they would come in as entries that speak
 * WebDriver (geckodriver, WebKitWebDriver) and the StoreGate, which holds
 * requests without any browser help, keeps the scenarios portable.
 */
export const browsers = {
  chromium: {
    name: "chromium",
    async launch(userDataDir) {
      const { chromium } = await import("playwright-core");
      const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: BROWSER_LAUNCH_TIMEOUT,
        acceptDownloads: false,
      });
      return { name: "chromium", context, close: () => context.close() };
    },
  },
};

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

/** Runs `promise`, failing with `what` after `ms`. */
export async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function freePort(taken) {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error("no free port found");
}

/** Runs a command to its end; rejects on a non-zero exit or after `timeout`. */
function run(command, args, { timeout, env, cwd = REPO } = {}) {
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

// What must die with this process, whatever happens: pids we started.
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
 * A detached shell that outlives a SIGKILLed test process: once the parent
 * is gone it kills the pids listed in `pidFile` (the dev server, Garage) and
 * removes the temp dir.
 */
function startWatchdog(pidFile, tmpDir) {
  const script = `
    parent=$1; pids=$2; dir=$3; keep=$4
    while kill -0 "$parent" 2>/dev/null; do sleep 1; done
    if [ -f "$pids" ]; then
      while read -r pid; do
        case "$pid" in ''|*[!0-9]*) ;; *) kill -9 "$pid" 2>/dev/null ;; esac
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

/**
 * Starts Garage, the gate, the dev server and a browser.
 *
 * @param {{ browser?: string, label?: string }} [options]
 */
export async function startStack({ browser = process.env.E2E_BROWSER || "chromium", label = "e2e", withGate = true } = {}) {
  const browserEntry = browsers[browser];
  if (!browserEntry) throw new Error(`unknown browser ${browser}: one of ${Object.keys(browsers).join(", ")}`);
  installExitHooks();

  await fsp.mkdir(TMP_ROOT, { recursive: true });
  const tmpDir = await fsp.mkdtemp(path.join(TMP_ROOT, `${label}-`));
  liveDirs.add(tmpDir);
  const garageDir = path.join(tmpDir, "garage");
  const profileDir = path.join(tmpDir, "profile");
  const filesDir = path.join(tmpDir, "files");
  await Promise.all([fsp.mkdir(profileDir), fsp.mkdir(filesDir)]);
  const pidFile = path.join(tmpDir, "pids");
  await fsp.writeFile(pidFile, "");
  const watchdog = startWatchdog(pidFile, tmpDir);
  const notePid = (pid) => {
    livePids.add(pid);
    fs.appendFileSync(pidFile, `${pid}\n`);
  };

  // A file must never hang the run: past FILE_TIMEOUT everything stops.
  const fileTimer = setTimeout(() => {
    log(`harness: the test file ran for more than ${FILE_TIMEOUT} ms: stopping everything`);
    emergencyCleanup();
    process.exit(1);
  }, FILE_TIMEOUT);
  fileTimer.unref();

  const stack = {
    tmpDir,
    filesDir,
    browserName: browserEntry.name,
    browserErrors: [], // uncaught page errors (a test fails on any)
    consoleErrors: [], // console.error lines of the pages
  };
  let garageStarted = false;
  let server = null;
  let gate = null;
  let launched = null;
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
    if (launched) await attempt("closing the browser", () => withTimeout(launched.close(), 20_000, "closing the browser"));
    if (server) {
      await attempt("stopping the dev server", async () => {
        if (server.exitCode === null && server.signalCode === null) {
          const exited = new Promise((resolve) => server.once("exit", resolve));
          server.kill("SIGTERM");
          await withTimeout(exited, 10_000, "the dev server to exit").catch(async (error) => {
            server.kill("SIGKILL");
            throw error;
          });
        }
        livePids.delete(server.pid);
      });
    }
    if (gate) await attempt("stopping the store gate", () => withTimeout(gate.stop(), 10_000, "the gate to close"));
    if (garageStarted) {
      await attempt("stopping Garage", () =>
        run("bash", [path.join(REPO, "scripts/garage.sh"), "stop", garageDir], { timeout: GARAGE_STOP_TIMEOUT }),
      );
    }
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
    // 1. Garage, on three free ports (retried if a port got taken meanwhile).
    let storeEnv;
    for (let attempt = 1; ; attempt += 1) {
      const taken = new Set();
      const [s3Port, rpcPort, adminPort] = [await freePort(taken), await freePort(taken), await freePort(taken)];
      try {
        garageStarted = true;
        await run("bash", [path.join(REPO, "scripts/garage.sh"), "start", garageDir, String(s3Port), String(rpcPort), String(adminPort)], {
          timeout: GARAGE_START_TIMEOUT,
        });
        break;
      } catch (error) {
        if (attempt >= 3 || !/already in use/.test(error.message)) {
          const logTail = await fsp.readFile(path.join(garageDir, "garage.log"), "utf8").catch(() => "");
          throw new Error(`${error.message}\n--- garage.log (tail) ---\n${logTail.split("\n").slice(-30).join("\n")}`);
        }
      }
    }
    const garagePid = Number((await fsp.readFile(path.join(garageDir, "garage.pid"), "utf8")).trim());
    if (garagePid > 0) notePid(garagePid);
    storeEnv = parseEnvFile(await fsp.readFile(path.join(garageDir, "s3.env"), "utf8"));
    for (const name of ["S3_ENDPOINT", "S3_BUCKET", "S3_REGION", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]) {
      if (!storeEnv[name]) throw new Error(`${garageDir}/s3.env has no ${name}`);
    }

    // 2. The gate in front of the store (benchmarks go to Garage directly).
    stack.garageEndpoint = storeEnv.S3_ENDPOINT;
    if (withGate) {
      gate = new StoreGate(storeEnv.S3_ENDPOINT);
      await gate.start();
      stack.gate = gate;
    }
    stack.storeOrigin = withGate ? gate.url : new URL(storeEnv.S3_ENDPOINT).origin;

    // 3. The dev server.
    const serverBin = path.resolve(REPO, process.env.RESUPLOAD_SERVER_BIN || "target/debug/resupload-dev-server");
    const pkgDir = path.resolve(REPO, process.env.RESUPLOAD_PKG_DIR || "pkg");
    if (!fs.existsSync(serverBin)) {
      throw new Error(`no dev server binary at ${serverBin}: run \`cargo build -p resupload-dev-server\` (or set RESUPLOAD_SERVER_BIN)`);
    }
    if (!fs.existsSync(path.join(pkgDir, "resupload.js"))) {
      throw new Error(`no wasm package at ${pkgDir}: run \`wasm-pack build --target web --mode no-install --out-dir pkg\` (or set RESUPLOAD_PKG_DIR)`);
    }
    const serverLog = fs.createWriteStream(path.join(tmpDir, "server.log"));
    server = spawn(serverBin, ["--debug-routes", "--listen", "127.0.0.1:0", "--www", path.join(REPO, "www"), "--pkg", pkgDir], {
      cwd: REPO,
      env: { ...process.env, ...storeEnv, S3_ENDPOINT: withGate ? gate.url : storeEnv.S3_ENDPOINT },
      stdio: ["ignore", "pipe", "pipe"],
    });
    notePid(server.pid);
    server.stderr.on("data", (data) => {
      serverLog.write(data);
      for (const line of String(data).split("\n")) {
        if (/^(error|warning)/i.test(line)) log(`[server] ${line}`);
      }
    });
    stack.baseUrl = await withTimeout(
      new Promise((resolve, reject) => {
        let out = "";
        server.stdout.on("data", (data) => {
          serverLog.write(data);
          out += data;
          const m = /resupload dev server: (http:\/\/\S+?)\/?\s*$/m.exec(out);
          if (m) resolve(m[1]);
        });
        server.once("exit", (code, signal) =>
          reject(new Error(`the dev server exited (${signal ?? `exit ${code}`}) before it was ready; see ${path.join(tmpDir, "server.log")}:\n${fs.readFileSync(path.join(tmpDir, "server.log"), "utf8").slice(-3000)}`)),
        );
        server.once("error", reject);
      }),
      SERVER_START_TIMEOUT,
      "the dev server to print its URL",
    );

    // 4. The browser.
    launched = await withTimeout(browserEntry.launch(profileDir), BROWSER_LAUNCH_TIMEOUT + 5_000, `launching ${browserEntry.name}`);
    stack.context = launched.context;
    stack.context.setDefaultTimeout(30_000);
    stack.context.setDefaultNavigationTimeout(30_000);
    const watchPage = (page) => {
      page.on("console", (msg) => {
        if (msg.type() === "error" || msg.type() === "warning") {
          const text = `[browser console.${msg.type()}] ${msg.text()}`;
          if (msg.type() === "error") stack.consoleErrors.push(msg.text());
          log(text);
        }
      });
      page.on("pageerror", (error) => {
        stack.browserErrors.push(String(error?.stack ?? error));
        log(`[browser pageerror] ${error?.stack ?? error}`);
      });
      page.on("crash", () => {
        stack.browserErrors.push("the page crashed");
        log("[browser] the page crashed");
      });
    };
    for (const page of stack.context.pages()) watchPage(page);
    stack.context.on("page", watchPage);
    stack.page = stack.context.pages()[0] ?? (await stack.context.newPage());
  } catch (error) {
    await stack.stop();
    throw error;
  }

  /** Random file of `size` bytes in the stack's temp dir. */
  stack.makeFile = (name, size) => makeRandomFile(filesDir, name, size);

  /** The demo page URL with these query options. */
  stack.demoUrl = (params = {}) => {
    const url = new URL("/", stack.baseUrl);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
    return url.href;
  };

  /** GET a JSON route of the dev server: { status, body }. */
  stack.getJson = async (route) => {
    const response = await withTimeout(fetch(new URL(route, stack.baseUrl), { cache: "no-store" }), 30_000, `GET ${route}`);
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

  log(`harness: ${stack.browserName} on ${stack.baseUrl} (store ${stack.garageEndpoint} behind gate ${stack.storeOrigin})`);
  return stack;
}
