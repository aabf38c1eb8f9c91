// The first throughput benchmark's command line, kept working:
//
//   node bench/throughput.mjs [sizeMiB=256] [runs=3]
//
// is bench/run.mjs with --sizes=<sizeMiB> --runs=<runs> --only=raw,resupload
// --sections=throughput. The full comparison is `npm run bench`.

import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const sizeMiB = Number(process.argv[2] ?? 256);
const runs = Number(process.argv[3] ?? 3);
const run = path.join(path.dirname(fileURLToPath(import.meta.url)), "run.mjs");
const { status } = spawnSync(
  process.execPath,
  [run, `--sizes=${sizeMiB}`, `--runs=${runs}`, "--only=raw,resupload", "--sections=throughput", "--out=bench/dist/throughput"],
  { stdio: "inherit" },
);
process.exit(status ?? 1);
