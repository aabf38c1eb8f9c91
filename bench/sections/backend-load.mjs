// Backend load (issue 12): how many part signatures the dev server gives
// per second, and their p99 latency, with wrk on loopback (2 threads, 32
// connections), for one part per request and for batches of 10, with the
// uploads table on SQLite and on PostgreSQL. A release build
// (`--profile server-release`), JWT auth on (HS256: every request carries
// a bearer token that is verified), against its own Garage node and
// PostgreSQL cluster. An unrouted request is measured too, as the floor.
//
// Goal: at least 20,000 signed parts a second on 2 cores, p99 under 5 ms,
// no errors.

import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { hs256Jwt } from "../../tests/e2e/backend-client.mjs";
import { freePort } from "../../tests/e2e/loopback.mjs";
import { startPostgres } from "../../tests/e2e/postgres.mjs";
import { REPO } from "../lib/stack.mjs";
import { fmt, log, parseEnvFile, withTimeout } from "../lib/util.mjs";

export const id = "backend-load";
export const title = "Backend load: signed parts per second (wrk)";
export const needsBrowser = false;
export const enabledByDefault = true;

const GOAL = { signsPerSecond: 20_000, p99Ms: 5 };
const BATCH = 10;
const CONNECTIONS = 32;
const BUILD_TIMEOUT = 30 * 60_000;
const SERVER_BIN = path.join(REPO, "target/server-release/resupload-dev-server");

function exec(command, args, { timeout, env } = {}) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: REPO, timeout, killSignal: "SIGKILL", env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")}: ${error.message}\n${stderr.slice(-3000)}`));
      else resolve(stdout);
    });
  });
}

async function startGarage(dir) {
  const ports = [await freePort(), await freePort(), await freePort()].map(String);
  await exec("bash", [path.join(REPO, "scripts/garage.sh"), "start", dir, ...ports], { timeout: 120_000 });
  return parseEnvFile(await fsp.readFile(path.join(dir, "s3.env"), "utf8"));
}

/** Starts the release dev server; answers `{ child, baseUrl }`. */
async function startServer({ env, dataDir, logFile }) {
  const child = spawn(SERVER_BIN, ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--www", path.join(REPO, "www"), "--pkg", path.join(REPO, "pkg")], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = fs.createWriteStream(logFile);
  child.stderr.pipe(out);
  const baseUrl = await withTimeout(
    new Promise((resolve, reject) => {
      let printed = "";
      child.stdout.on("data", (d) => {
        printed += d;
        const m = /resupload dev server: (http:\/\/\S+?)\/?\s*$/m.exec(printed);
        if (m) resolve(m[1]);
      });
      child.once("exit", (code) => reject(new Error(`the dev server exited (${code}); see ${logFile}`)));
    }),
    30_000,
    "the release dev server to start",
  );
  return { child, baseUrl };
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await withTimeout(exited, 10_000, "the dev server to stop").catch(() => child.kill("SIGKILL"));
}

/** Milliseconds of a wrk duration like `812.00us`, `1.23ms` or `2.01s`. */
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

/** The figures of wrk's `--latency` output. */
export function parseWrk(output) {
  const grab = (re) => re.exec(output)?.[1];
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0;
  return {
    requestsPerSecond: Number(grab(/Requests\/sec:\s+([\d.]+)/)),
    requests: Number(grab(/(\d+) requests in/)),
    p50Ms: toMs(grab(/^\s+50%\s+(\S+)/m) ?? ""),
    p99Ms: toMs(grab(/^\s+99%\s+(\S+)/m) ?? ""),
    errors: Number(grab(/Non-2xx or 3xx responses: (\d+)/) ?? 0) + socketErrors,
  };
}

async function wrk(url, headers, seconds) {
  const args = ["-t2", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", "--timeout", "5s"];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  const output = await exec("wrk", [...args, url], { timeout: (seconds + 30) * 1000 });
  return parseWrk(output);
}

/** Creates an upload through the API; answers its sign URLs. */
async function prepare(baseUrl, headers) {
  const created = await fetch(new URL("/api/s3/multipart", baseUrl), {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ filename: "load.bin", type: "", metadata: {}, size: 80 * 2 ** 20, sampleSha256: randomBytes(32).toString("hex") }),
  });
  if (!created.ok) throw new Error(`create answered ${created.status}: ${await created.text()}`);
  const { key, uploadId } = await created.json();
  const base = `${baseUrl}/api/s3/multipart/${encodeURIComponent(uploadId)}`;
  const q = `key=${encodeURIComponent(key)}`;
  const single = `${base}/7?${q}`;
  const batch = `${base}/batch?${q}&partNumbers=${Array.from({ length: BATCH }, (_, i) => i + 1).join(",")}`;
  for (const url of [single, batch]) {
    const r = await fetch(url, { headers });
    if (!r.ok || !(await r.text()).includes("X-Amz-Signature")) throw new Error(`${url} answered ${r.status}`);
  }
  return { single, batch, unrouted: `${baseUrl}/api/nothing-here` };
}

async function measure(backend, baseUrl, headers, seconds) {
  const urls = await prepare(baseUrl, headers);
  await wrk(urls.single, headers, 2); // warm-up
  const rows = [];
  for (const [route, url, parts] of [
    ["unrouted request (404)", urls.unrouted, 0],
    ["sign one part", urls.single, 1],
    [`sign a batch of ${BATCH}`, urls.batch, BATCH],
  ]) {
    // Other work on the machine shows in the tail: the load average goes
    // into the report beside each figure.
    const load = os.loadavg()[0];
    const figures = await wrk(url, headers, seconds);
    rows.push({ backend, route, parts, ...figures, signsPerSecond: figures.requestsPerSecond * parts, load });
    log(`${backend} ${route}: ${fmt(figures.requestsPerSecond, 0)} req/s, p99 ${fmt(figures.p99Ms, 2)} ms, errors ${figures.errors}`);
  }
  return rows;
}

function markdown(rows, seconds) {
  const lines = [
    `wrk -t2 -c${CONNECTIONS} -d${seconds}s --latency, loopback, release build (\`--profile server-release\`), HS256 JWT on every request, ${os.cpus().length} cores.`,
    `Goal: at least ${GOAL.signsPerSecond.toLocaleString("en")} signed parts/s, p99 under ${GOAL.p99Ms} ms, no errors.`,
    "",
    "| table | request | requests/s | signed parts/s | p50 | p99 | errors | goal | load before |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
  ];
  for (const r of rows) {
    const met = r.parts === 0 ? "" : r.signsPerSecond >= GOAL.signsPerSecond && r.p99Ms < GOAL.p99Ms && r.errors === 0 ? "met" : "missed";
    const signs = r.parts === 0 ? "" : fmt(r.signsPerSecond, 0);
    const errors = r.parts === 0 ? "(404s)" : String(r.errors);
    lines.push(`| ${r.backend} | ${r.route} | ${fmt(r.requestsPerSecond, 0)} | ${signs} | ${fmt(r.p50Ms, 2)} ms | ${fmt(r.p99Ms, 2)} ms | ${errors} | ${met} | ${fmt(r.load, 2)} |`);
  }
  return lines.join("\n");
}

export async function run(ctx) {
  const seconds = ctx.opts.quick ? 5 : 10;
  log("building the dev server for speed (cargo build --profile server-release)…");
  await exec("cargo", ["build", "--profile", "server-release", "-p", "resupload-dev-server"], { timeout: BUILD_TIMEOUT });
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "resupload-backend-load-"));
  const secret = randomBytes(32).toString("hex");
  const headers = { authorization: `Bearer ${hs256Jwt({ sub: "bench", exp: Math.floor(Date.now() / 1000) + 3600 }, secret)}` };
  let pg = null;
  const servers = [];
  try {
    const storeEnv = await startGarage(path.join(tmp, "garage"));
    pg = await startPostgres();
    const rows = [];
    for (const [backend, databaseUrl] of [["SQLite", ""], ["PostgreSQL", await pg.createDatabase("bench")]]) {
      const env = { ...storeEnv, AUTH_JWT_HS256_SECRET: secret, DATABASE_URL: databaseUrl };
      const server = await startServer({ env, dataDir: path.join(tmp, `data-${backend}`), logFile: path.join(tmp, `${backend}.log`) });
      servers.push(server.child);
      rows.push(...(await measure(backend, server.baseUrl, headers, seconds)));
      await stopServer(server.child);
    }
    return { markdown: markdown(rows, seconds), json: { goal: GOAL, connections: CONNECTIONS, seconds, rows } };
  } finally {
    for (const child of servers) await stopServer(child);
    await pg?.stop().catch((e) => log(`stopping PostgreSQL: ${e.message}`));
    await exec("bash", [path.join(REPO, "scripts/garage.sh"), "stop", path.join(tmp, "garage")], { timeout: 60_000 }).catch(() => {});
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}
