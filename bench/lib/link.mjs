// An emulated network link for the bench page: Chromium's own network
// emulation (DevTools protocol `Network.emulateNetworkConditions`), set
// through a CDP session on the page and removed when the work is done.
//
// What it does and does not do (measured here, Chromium 156; see
// BENCHMARKS.md, "Emulated links"):
// - `latency` is added to each request once, before its response: a 1 KiB
//   PUT took the latency + 7-11 ms, and a throttled 4-16 MiB PUT about the
//   latency longer than with none.
// - `uploadThroughput` throttles request bodies (fetch and XMLHttpRequest,
//   Blob bodies included), shared by all requests of the page.
// - CORS preflights (OPTIONS) are not delayed: on a real link each PUT to a
//   new presigned URL costs one more round trip than here.
// - One request alone does not fill a fast emulated link: at 400 Mbit/s a
//   single PUT reached 0.45-0.69 of it, four at once 0.86-0.90.
// - Detaching the DevTools session that set it removes it too.

import { MIB } from "./util.mjs";

/** A link: { latencyMs, mbit, bytesPerSecond, mibps, label, id }. */
export function makeLink(latencyMs, mbit) {
  const bytesPerSecond = (mbit * 1e6) / 8;
  return {
    id: `${latencyMs}ms/${mbit}mbit`,
    latencyMs,
    mbit,
    bytesPerSecond,
    mibps: bytesPerSecond / MIB,
    label: `${latencyMs} ms, ${mbit} Mbit/s up`,
  };
}

/** Parses "60ms/400mbit" (units optional: "60/400"). */
export function parseLink(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:ms)?\s*\/\s*(\d+(?:\.\d+)?)\s*(?:mbit(?:\/s)?)?\s*$/i.exec(text);
  if (!m) throw new Error(`--links: ${JSON.stringify(text)} is not LATENCYms/RATEmbit (for example 60ms/400mbit)`);
  const latencyMs = Number(m[1]);
  const mbit = Number(m[2]);
  if (!(mbit > 0)) throw new Error(`--links: ${text}: the rate must be above 0`);
  return makeLink(latencyMs, mbit);
}

export const DEFAULT_LINKS = [makeLink(60, 400), makeLink(150, 50)];

/**
 * Runs `fn()` with the bench page's network emulated as `link` (upload
 * throttled, latency added, downloads not throttled), and removes the
 * emulation afterwards, whatever `fn` does.
 */
export async function withLink(bench, link, fn) {
  const cdp = await bench.cdp();
  try {
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: link.latencyMs,
      downloadThroughput: -1,
      uploadThroughput: link.bytesPerSecond,
    });
    return await fn();
  } finally {
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 }).catch(() => {});
    await cdp.detach().catch(() => {});
  }
}
