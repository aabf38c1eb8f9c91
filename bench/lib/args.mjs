// The command line of bench/run.mjs.

export const USAGE = `usage: node bench/run.mjs [flags]   (or: npm run bench -- [flags])

  --sizes=256,1024        file sizes in MiB for the throughput section
  --runs=3                measured runs per client and size (the median is reported)
  --only=raw,resupload    clients to measure (default: all of them; see below)
  --quick                 --sizes=256 --runs=1
  --skip-memory           leave out the memory section
  --skip-bundle           leave out the bundle-size section
  --skip-throughput       leave out the throughput section
  --sections=a,b          run only these sections (ids below)
  --out=bench/results     where to write <out>.md and <out>.json
  --help

clients: raw, resupload, resupload-sha256, uppy, lib-storage, tus
sections: throughput, memory, bundle, part-overhead, resume-latency, staging, hash, backend-load`;

/** Parses `argv` (without node and the script) into the bench's options. */
export function parseArgs(argv, { clientIds, sectionIds }) {
  const opts = {
    sizes: [256, 1024],
    runs: 3,
    only: null,
    sections: null,
    skip: new Set(),
    out: "bench/results",
    quick: false,
  };
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
    const [, name, value] = m;
    const list = () => {
      if (!value) throw new Error(`--${name} needs a value\n${USAGE}`);
      return value.split(",").map((s) => s.trim()).filter(Boolean);
    };
    switch (name) {
      case "help":
        opts.help = true;
        break;
      case "quick":
        opts.quick = true;
        break;
      case "sizes":
        opts.sizes = list().map((s) => {
          const n = Number(s);
          if (!Number.isInteger(n) || n < 1) throw new Error(`--sizes: ${s} is not a whole number of MiB`);
          return n;
        });
        opts.sizesGiven = true;
        break;
      case "runs":
        opts.runs = Number(value);
        if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error("--runs must be a whole number ≥ 1");
        opts.runsGiven = true;
        break;
      case "only":
        opts.only = list();
        for (const id of opts.only) {
          if (!clientIds.includes(id)) throw new Error(`--only: unknown client ${id} (one of ${clientIds.join(", ")})`);
        }
        break;
      case "sections":
        opts.sections = list();
        for (const id of opts.sections) {
          if (!sectionIds.includes(id)) throw new Error(`--sections: unknown section ${id} (one of ${sectionIds.join(", ")})`);
        }
        break;
      case "skip-memory":
      case "skip-bundle":
      case "skip-throughput":
        opts.skip.add(name.slice("skip-".length));
        break;
      case "out":
        if (!value) throw new Error("--out needs a value");
        opts.out = value.replace(/\.(md|json)$/, "");
        break;
      default:
        throw new Error(`unknown flag --${name}\n${USAGE}`);
    }
  }
  if (opts.quick) {
    if (!opts.sizesGiven) opts.sizes = [256];
    if (!opts.runsGiven) opts.runs = 1;
  }
  return opts;
}
