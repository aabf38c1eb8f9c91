// Small helpers shared by the bench's modules.

import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";

export const MIB = 1024 * 1024;

/** The median of numbers (the lower middle one for an even count). */
export function median(xs) {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/**
 * The median of each run's ratio to the raw baseline of the same run (runs
 * are `{ run, status, mibps }`; a run without an "ok" baseline is left out).
 */
export function medianRatio(runs, rawRuns) {
  const ratios = runs
    .map((r) => {
      const base = rawRuns.find((b) => b.run === r.run && b.status === "ok");
      return base ? r.mibps / base.mibps : NaN;
    })
    .filter(Number.isFinite);
  return ratios.length ? median(ratios) : NaN;
}

/** `n` with `digits` decimals, or "–" when it is not a number. */
export function fmt(n, digits = 1) {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

/** Bytes as MiB with one decimal. */
export const mib = (bytes) => fmt(bytes / MIB, 1);

/** Bytes as KiB with one decimal. */
export const kib = (bytes) => fmt(bytes / 1024, 1);

/** The SHA-256 (hex) of a file, streamed. */
export async function sha256File(file) {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * MIB })) hash.update(chunk);
  return hash.digest("hex");
}

/** The SHA-256 (hex) of a Node readable stream (or any async iterable of chunks). */
export async function sha256Stream(stream) {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

/**
 * A file of `size` zero bytes made sparse with truncate (instant, takes no
 * disk), and its SHA-256.
 */
export async function makeZeroFile(file, size) {
  const handle = await fsp.open(file, "w");
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
  const hash = createHash("sha256");
  const zeros = Buffer.alloc(4 * MIB);
  let left = size;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    hash.update(n === zeros.length ? zeros : zeros.subarray(0, n));
    left -= n;
  }
  return { path: file, size, sha256: hash.digest("hex") };
}

/** Runs `promise`, rejecting with `what` after `ms`. */
export async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`timed out after ${Math.round(ms / 1000)} s: ${what}`), { timeout: true })), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses a shell env file of `export NAME=value` lines. */
export function parseEnvFile(text) {
  const env = {};
  for (const line of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return env;
}

export function log(message) {
  process.stderr.write(`${message}\n`);
}
