// A real Uppy Companion (the npm package @uppy/companion, its standalone
// server) on a free loopback port, against the stack's Garage, for tests
// that talk to a plain Companion backend. Every step has a timeout; the
// process dies with the test process (setpriv's parent-death signal, and
// its pid goes to the harness's `notePid`), and `stop()` ends it.
//
//   const companion = await startCompanion({ storeEnv: stack.storeEnv, origins: [stack.baseUrl], notePid: stack.notePid, dir: stack.tmpDir });
//   companion.baseUrl      // http://127.0.0.1:PORT: Companion's routes are {baseUrl}/s3/params, {baseUrl}/s3/multipart, ...
//   companion.s3Endpoint   // {baseUrl}/s3: what a client names as its endpoint
//   await companion.stop();
//
// It runs as deployed: NODE_ENV=production (errors, a gone upload included,
// are a 500 `{"message": "Something went wrong"}`), CORS for `origins` only.
// Companion names objects `<uuid>-<file name>` (its standalone getKey), with
// no prefix. Its S3 client is the AWS SDK v3, which by default puts an
// `x-amz-checksum-crc32` of an empty body into presigned part URLs (Garage
// then refuses every part): the process runs with
// AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { freePort } from "./loopback.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const START_TIMEOUT = 60_000;
const STOP_TIMEOUT = 10_000;

/** The child's program: Companion's standalone app, listening on loopback only (its own start script listens on every interface). */
const MAIN = `
import * as companion from "@uppy/companion";
import standalone from "@uppy/companion/standalone";
const { app } = standalone();
const server = app.listen(Number(process.env.COMPANION_PORT), "127.0.0.1", () => console.log("companion ready"));
companion.socket(server);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`;

/** The environment of a Companion on `port` against the store of `storeEnv` (the harness's s3.env). */
function companionEnv({ port, storeEnv, origins, dataDir }) {
  return {
    PATH: process.env.PATH,
    HOME: dataDir,
    NODE_ENV: "production",
    COMPANION_PORT: String(port),
    COMPANION_DOMAIN: `127.0.0.1:${port}`,
    COMPANION_PROTOCOL: "http",
    COMPANION_DATADIR: dataDir,
    COMPANION_SECRET: randomBytes(32).toString("hex"),
    COMPANION_PREAUTH_SECRET: randomBytes(32).toString("hex"),
    COMPANION_CLIENT_ORIGINS: origins.join(","),
    COMPANION_HIDE_METRICS: "true",
    // Production mode requires the allowed targets of remote (provider)
    // uploads; these tests make none: allow only this Companion itself.
    COMPANION_UPLOAD_URLS: `^http://127\\.0\\.0\\.1:${port}/`,
    COMPANION_AWS_KEY: storeEnv.S3_ACCESS_KEY_ID,
    COMPANION_AWS_SECRET: storeEnv.S3_SECRET_ACCESS_KEY,
    COMPANION_AWS_BUCKET: storeEnv.S3_BUCKET,
    COMPANION_AWS_REGION: storeEnv.S3_REGION,
    COMPANION_AWS_ENDPOINT: storeEnv.S3_ENDPOINT,
    COMPANION_AWS_FORCE_PATH_STYLE: "true",
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
    // No shared AWS config or credentials of this machine.
    AWS_CONFIG_FILE: path.join(dataDir, "aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dataDir, "aws-credentials"),
  };
}

/** Waits until `GET {baseUrl}/` answers 200, the child exits, or `timeout` ms pass. */
async function waitReady(child, baseUrl, logFile, timeout) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      const response = await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const log = await fsp.readFile(logFile, "utf8").catch(() => "");
  const why = child.exitCode !== null || child.signalCode !== null ? `exited (${child.signalCode ?? `exit ${child.exitCode}`})` : `not ready after ${timeout} ms`;
  throw new Error(`Companion ${why}; its log (tail):\n${log.split("\n").slice(-30).join("\n")}`);
}

/**
 * Starts Companion against the store of `storeEnv`, allowing CORS requests
 * from `origins`; keeps its data and log under `dir`.
 * Answers `{ baseUrl, s3Endpoint, port, pid, logFile, stop() }`.
 *
 * @param {{ storeEnv: Record<string, string>, origins: string[], dir: string, notePid?: (pid: number) => void }} options
 */
export async function startCompanion({ storeEnv, origins, dir, notePid }) {
  const dataDir = await fsp.mkdtemp(path.join(dir, "companion-"));
  const logFile = path.join(dataDir, "companion.log");
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const node = [process.execPath, "--input-type=module", "-e", MAIN];
  const [command, ...args] = fs.existsSync("/usr/bin/setpriv") ? ["/usr/bin/setpriv", "--pdeathsig", "KILL", ...node] : node;
  const out = fs.openSync(logFile, "a");
  const child = spawn(command, args, { cwd: REPO, env: companionEnv({ port, storeEnv, origins, dataDir }), stdio: ["ignore", out, out] });
  fs.closeSync(out);
  notePid?.(child.pid);
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", kill);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(kill, STOP_TIMEOUT);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitReady(child, baseUrl, logFile, START_TIMEOUT);
  } catch (error) {
    await stop();
    throw error;
  }
  return { baseUrl, s3Endpoint: `${baseUrl}/s3`, port, pid: child.pid, logFile, stop };
}
