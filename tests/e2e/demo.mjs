// How tests use the demo page (www/): open it, pick files through its file
// input, press its buttons, read what it shows. `window.resuploadDemo` is
// read for exact numbers only; every action goes through the real controls.

import assert from "node:assert/strict";

export const FINAL = ["done", "error", "cancelled"];

/** Opens the demo with these query options and waits until it is ready. */
export async function openDemo(stack, page, params = {}) {
  await page.goto(stack.demoUrl(params));
  await waitReady(page);
}

export async function waitReady(page, timeout = 30_000) {
  await page.waitForFunction(() => document.body.dataset.ready === "true" || document.body.dataset.ready === "error", null, {
    timeout,
    polling: 50,
  });
  const state = await page.evaluate(() => ({ ready: window.resuploadDemo.ready, loadError: window.resuploadDemo.loadError }));
  assert.equal(state.ready, true, `the demo page did not load the uploader: ${state.loadError}`);
}

/** Picks files through the page's file input. */
export async function pickFiles(page, ...paths) {
  await page.setInputFiles("#file-input", paths);
}

/** The card of the newest upload of `fileName`. */
export function card(page, fileName) {
  return page.locator(`#upload-list .upload-card[data-file-name="${cssString(fileName)}"]`).first();
}

export async function click(page, fileName, action) {
  const button = card(page, fileName).locator(`[data-action="${action}"]`);
  await button.click({ timeout: 10_000 });
}

/** The page's plain state of the newest upload of `fileName`. */
export async function entry(page, fileName) {
  return page.evaluate((name) => {
    const all = window.resuploadDemo.uploads.filter((u) => u.fileName === name);
    return all.length ? structuredClone(all[all.length - 1]) : null;
  }, fileName);
}

/** Waits until the newest upload of `fileName` is in one of `statuses`. */
export async function waitForStatus(page, fileName, statuses, timeout = 60_000) {
  const wanted = [].concat(statuses);
  const handle = await page.waitForFunction(
    ([name, wanted]) => {
      const all = window.resuploadDemo.uploads.filter((u) => u.fileName === name);
      const e = all[all.length - 1];
      return e && wanted.includes(e.status) ? structuredClone(e) : null;
    },
    [fileName, wanted],
    { timeout, polling: 50 },
  );
  return handle.jsonValue();
}

/** Waits until the upload of `fileName` is over; fails with the page's error unless it is done. */
export async function waitDone(page, fileName, timeout = 120_000) {
  const e = await waitForStatus(page, fileName, FINAL, timeout);
  assert.equal(e.status, "done", `the upload of ${fileName} ended as ${e.status}: ${JSON.stringify(e.error)}`);
  return e;
}

/** Waits until at least `count` parts of `fileName` are reported done on the page. */
export async function waitPartsDone(page, fileName, count, timeout = 60_000) {
  await page.waitForFunction(
    ([name, count]) => {
      const all = window.resuploadDemo.uploads.filter((u) => u.fileName === name);
      const e = all[all.length - 1];
      return e && e.partsDone >= count;
    },
    [fileName, count],
    { timeout, polling: 50 },
  );
}

/** `Upload.listPending({namespace})`, called in the page from the wasm package itself. */
export async function listPending(page, namespace) {
  return page.evaluate(async (namespace) => {
    const mod = await import("/pkg/resupload.js");
    await mod.default();
    const list = await mod.Upload.listPending({ namespace });
    return [...list].map((p) => ({ ...p }));
  }, namespace);
}

/**
 * Counts the part PUTs the page sends to the store (Playwright `request`
 * events with method PUT on the store's origin).
 */
export function trackStorePuts(page, storeOrigin) {
  const tracker = {
    requests: [],
    get count() {
      return tracker.requests.length;
    },
    reset() {
      tracker.requests = [];
    },
    partNumbers() {
      return tracker.requests.map((r) => r.partNumber).sort((a, b) => a - b);
    },
    dispose() {
      page.off("request", onRequest);
    },
  };
  const onRequest = (request) => {
    if (request.method() !== "PUT") return;
    const url = new URL(request.url());
    if (url.origin !== storeOrigin) return;
    tracker.requests.push({ partNumber: Number(url.searchParams.get("partNumber")), at: Date.now() });
  };
  page.on("request", onRequest);
  return tracker;
}

/** The one upload in progress on the store whose key ends with `/fileName`. */
export function uploadsOf(uploads, fileName) {
  return uploads.filter((u) => u.key.endsWith(`/${fileName}`));
}

export function range(from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export function randomNamespace(label) {
  return `${label}-${Math.random().toString(36).slice(2, 10)}`;
}

function cssString(s) {
  return s.replace(/["\\]/g, "\\$&");
}
