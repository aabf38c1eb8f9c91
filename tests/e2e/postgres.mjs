// A throwaway PostgreSQL cluster for end-to-end tests and the bench
// (scripts/postgres.sh: Debian's server, a temp folder of its own, a free
// loopback port, trust authentication, no fsync). Every step has a timeout;
// `stop()` stops the cluster and removes its folder, and the postmaster's
// pid goes to the harness's `notePid` (killed if the test process dies).
//
//   const pg = await startPostgres({ notePid: stack.notePid });
//   const url = await pg.createDatabase("one");   // postgres://postgres@127.0.0.1:PORT/one
//   await pg.stop();

import { execFile } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { freePort } from "./loopback.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(REPO, "scripts/postgres.sh");
const START_TIMEOUT = 90_000;
const STOP_TIMEOUT = 60_000;
const QUERY_TIMEOUT = 30_000;

/** Runs a command to its end within `timeout` ms; resolves with its stdout. */
function run(command, args, timeout) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** psql of the newest installed server (Debian: /usr/lib/postgresql/<v>/bin). */
function psqlPath() {
  const versions = fs.existsSync("/usr/lib/postgresql") ? fs.readdirSync("/usr/lib/postgresql") : [];
  const newest = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error("no PostgreSQL under /usr/lib/postgresql: run scripts/setup.sh --test");
  return `/usr/lib/postgresql/${newest}/bin/psql`;
}

/**
 * Starts a cluster; answers `{ url, port, createDatabase(name), query(url, sql), stop() }`.
 *
 * @param {{ notePid?: (pid: number) => void }} [options]
 */
export async function startPostgres({ notePid } = {}) {
  // A folder of its own under the system's temp folder: as root, the
  // cluster runs as the postgres user, who must be able to reach it.
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "resupload-pg-"));
  let port;
  try {
    port = await freePort();
    await run("bash", [SCRIPT, "start", dir, String(port)], START_TIMEOUT);
  } catch (error) {
    const log = await fsp.readFile(path.join(dir, "postgres.log"), "utf8").catch(() => "");
    await run("bash", [SCRIPT, "stop", dir], STOP_TIMEOUT).catch(() => {});
    await fsp.rm(dir, { recursive: true, force: true });
    throw new Error(`${error.message}\n--- postgres.log (tail) ---\n${log.split("\n").slice(-20).join("\n")}`);
  }
  const pid = Number((await fsp.readFile(path.join(dir, "data/postmaster.pid"), "utf8")).split("\n")[0]);
  if (pid > 0 && notePid) notePid(pid);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const psql = psqlPath();
  let stopped = false;
  const query = (dbUrl, sql) => run(psql, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbUrl, "-c", sql], QUERY_TIMEOUT);
  return {
    url,
    port,
    dir,
    /** Runs `sql` on the database of `dbUrl`; answers psql's unaligned output. */
    query,
    /** Creates database `name` (letters, digits, _); answers its URL. */
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      await query(url, `CREATE DATABASE ${name}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await run("bash", [SCRIPT, "stop", dir], STOP_TIMEOUT);
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    },
  };
}
