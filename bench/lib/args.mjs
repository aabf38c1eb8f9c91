// The command line of bench/run.mjs.

import { DEFAULT_LINKS, parseLink } from "./link.mjs";

export const USAGE = `usage: node bench/run.mjs [flags]   (or: npm run bench -- [flags])

  --sizes=256,1024        file sizes in MiB for the throughput section
  --runs=3                measured runs per client and size (the median is reported)
  --only=raw,resupload    clients to measure (default: all of them; see below)
  --quick                 --sizes=256 --runs=1 --link-runs=1 --mix-big=64
  --skip-memory           leave out the memory section (--skip-<id> for any section)
  --skip-bundle           leave out the bundle-size section
  --skip-throughput       leave out the throughput section
  --sections=a,b          run only these sections (ids below)
  --out=bench/results     where to write <out>.md and <out>.json
  --help

  many files (section files):
  --files-cases=small,medium,mix   small: 1,000 × 256 KiB; medium: 200 × 4 MiB;
                                   mix: big files among 500 × 256 KiB
  --mix-big=512           size of the mix's big files in MiB
  --mix-big-count=3       how many big files the mix has
  --files-threshold=8     files up to this many MiB go as one upload each,
                          larger ones multipart (0: every file multipart)

  emulated links (section link, Chromium's network emulation):
  --links=60ms/400mbit,150ms/50mbit   latency per request / upload rate
  --link-size=128         the large file's size in MiB
  --link-cases=large,small   large: one large file; small: the 1,000-file set
  --link-runs=2           measured runs per client and link (the median is reported)

  resume and start latency (sections resume-latency, start-latency):
  --resume-trace          print a timeline of the last resume (resume-latency)
                          or fresh start (start-latency) of each case: the
                          page's IndexedDB, lock, fetch, XHR, Blob.slice and
                          hash-worker calls, in ms from start()
  --resume-link=60ms/400mbit   measure the resumes and fresh starts (resume-latency,
                          start-latency) on this emulated link
                          (the set-up runs without it); default: none

clients: raw, resupload, resupload-auto, resupload-sha256, uppy, lib-storage, tus
sections: throughput, memory, bundle, part-overhead, resume-latency, staging, hash, files, queue-resume, queue-add, link, backend-load`;

const FILES_CASES = ["small", "medium", "mix"];
const LINK_CASES = ["large", "small"];

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
    filesCases: FILES_CASES,
    mixBig: 512,
    mixBigCount: 3,
    filesThreshold: 8,
    links: DEFAULT_LINKS,
    linkSize: 128,
    linkCases: LINK_CASES,
    linkRuns: 2,
  };
  const whole = (name, value, min) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
    return n;
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
      case "files-cases":
        opts.filesCases = list();
        for (const c of opts.filesCases) if (!FILES_CASES.includes(c)) throw new Error(`--files-cases: unknown case ${c} (one of ${FILES_CASES.join(", ")})`);
        break;
      case "mix-big":
        opts.mixBig = whole(name, value, 1);
        opts.mixBigGiven = true;
        break;
      case "mix-big-count":
        opts.mixBigCount = whole(name, value, 0);
        break;
      case "files-threshold":
        opts.filesThreshold = whole(name, value, 0);
        break;
      case "links":
        opts.links = list().map(parseLink);
        break;
      case "link-size":
        opts.linkSize = whole(name, value, 1);
        break;
      case "link-runs":
        opts.linkRuns = whole(name, value, 1);
        opts.linkRunsGiven = true;
        break;
      case "link-cases":
        opts.linkCases = list();
        for (const c of opts.linkCases) if (!LINK_CASES.includes(c)) throw new Error(`--link-cases: unknown case ${c} (one of ${LINK_CASES.join(", ")})`);
        break;
      case "resume-trace":
        opts.resumeTrace = true;
        break;
      case "resume-link":
        if (!value) throw new Error("--resume-link needs a value, such as 60ms/400mbit");
        opts.resumeLink = parseLink(value);
        break;
      case "out":
        if (!value) throw new Error("--out needs a value");
        opts.out = value.replace(/\.(md|json)$/, "");
        break;
      default:
        if (name.startsWith("skip-") && sectionIds.includes(name.slice("skip-".length))) {
          opts.skip.add(name.slice("skip-".length));
          break;
        }
        throw new Error(`unknown flag --${name}\n${USAGE}`);
    }
  }
  if (opts.quick) {
    if (!opts.sizesGiven) opts.sizes = [256];
    if (!opts.runsGiven) opts.runs = 1;
    if (!opts.linkRunsGiven) opts.linkRuns = 1;
    if (!opts.mixBigGiven) opts.mixBig = 64;
  }
  return opts;
}
