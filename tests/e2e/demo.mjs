// How tests use the demo page (www/) in any browser: open it, pick files
// through its file input, press its buttons, read what it shows.
// `window.resuploadDemo` is read for exact numbers only; every action goes
// through the real controls. Each function takes a tab of browsers.mjs (or
// a Playwright page), so the demo's tests run in every engine.

import assert from "node:assert/strict";

import { tabOf } from "./browsers.mjs";
import { EngineHang, engineHangOfPage } from "./engine-traps.mjs";
import { log, waitUntil } from "./harness.mjs";

export const FINAL = ["done", "error", "cancelled"];

/** Opens the demo with these query options and waits until it is ready. */
export async function openDemo(stack, tab, params = {}) {
  tab = tabOf(tab);
  await tab.goto(stack.demoUrl(params));
  await waitReady(tab);
}

/**
 * Waits until the demo page has loaded the uploader. In WPE, a page whose
 * start stood still without an end (an `EngineHang`, see `lateLoad`) is
 * reloaded once, said on stderr; a second such start fails.
 */
export async function waitReady(tab, timeout = 30_000) {
  tab = tabOf(tab);
  try {
    await waitLoaded(tab, timeout);
  } catch (error) {
    if (!(error instanceof EngineHang)) throw error;
    log(`# ${error.message}: the page is reloaded once`);
    await tab.reload();
    await waitLoaded(tab, timeout, { again: true });
  }
}

async function waitLoaded(tab, timeout, { again = false } = {}) {
  const loaded = () => tab.evaluate(() => {
    const ready = document.body?.dataset.ready;
    return ready === "true" || ready === "error" ? { ready: window.resuploadDemo.ready, loadError: window.resuploadDemo.loadError } : null;
  });
  const state = await waitUntil(loaded, { timeout, interval: 100, what: "the demo page to load the uploader" }).catch(async (error) => {
    const late = await lateLoad(tab, loaded);
    const message = `${error.message} ${late.said}`;
    throw late.stuck && !again ? engineHangOfPage(message) : new Error(message);
  });
  assert.equal(state.ready, true, `the demo page did not load the uploader: ${state.loadError}`);
}

/** How long the library's own time limits may take to end a page's start. */
const LATE_LOAD_MS = 90_000;

/**
 * Why a page's start took too long, for the error of a wait that timed
 * out: the step of it the page was at (app.js `booting`), then whether the
 * library's own time limits (IndexedDB, locks: up to tens of seconds in
 * all) ended that step within LATE_LOAD_MS more, and the notices it
 * showed. A step that never ends would be a wait without an end.
 */
async function lateLoad(tab, loaded) {
  const step = await tab.evaluate(() => window.resuploadDemo?.booting ?? "no demo script yet").catch((e) => `unknown: ${e.message}`);
  const started = Date.now();
  const late = await waitUntil(loaded, { timeout: LATE_LOAD_MS, interval: 250, what: "the late start" }).catch(() => null);
  const waited = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const notices = await tab
    .evaluate(() => [...document.querySelectorAll("#notice p")].map((p) => p.textContent))
    .catch((e) => [`unknown: ${e.message}`]);
  const outcome = late ? `it loaded ${waited} after that` : `it had not loaded ${waited} after that`;
  const apis = late ? null : await browserApis(tab);
  const said = `(the page was at: ${step}; ${outcome}; notices: ${JSON.stringify(notices)}${apis ? `; ${apis.said}` : ""})`;
  // Stuck in the library's own work, the APIs it waits on answering.
  const stuck = !late && step === LISTING_STEP && apis.answered;
  return { said, stuck };
}

/** The step of app.js's start that calls the library's `listPending`. */
const LISTING_STEP = "listing the unfinished uploads";

/**
 * Whether the browser APIs a page's start waits on answer now, each asked
 * by the page with 5 s to answer: IndexedDB (the library's database
 * opened as it is, never created or upgraded here, then a count of its
 * uploads) and Web Locks (a query). For the error of a page that did not
 * load at all: `{ said, answered }`, `answered` when each one did.
 */
async function browserApis(tab) {
  return tab
    .evaluate(async () => {
      const timed = async (what) => {
        const start = performance.now();
        const late = new Promise((resolve) => setTimeout(resolve, 5_000, "no answer"));
        const answer = await Promise.race([Promise.resolve().then(what), late]).catch((e) => `failed: ${e?.name}`);
        return `${typeof answer === "string" ? answer : "answered"} in ${Math.round(performance.now() - start)} ms`;
      };
      const request = (r) => new Promise((resolve, reject) => Object.assign(r, { onsuccess: () => resolve(r.result), onerror: () => reject(r.error) }));
      let db = null;
      let absent = false;
      const opened = await timed(() => {
        const opening = indexedDB.open("resupload");
        // No database yet: leave it to the library to create.
        opening.onupgradeneeded = () => {
          absent = true;
          opening.transaction.abort();
        };
        return request(opening).then((answer) => (db = answer));
      });
      const open = absent ? "no database yet" : opened;
      try {
        const count = db ? await timed(() => request(db.transaction("uploads").objectStore("uploads").count())) : "not asked";
        const locks = navigator.locks ? await timed(() => navigator.locks.query()) : "no Web Locks";
        const answered = ![open, count, locks].some((answer) => /^(no answer|failed)/.test(answer));
        return { said: `IndexedDB open: ${open}, count: ${count}; navigator.locks.query: ${locks}`, answered };
      } finally {
        db?.close();
      }
    })
    .catch((e) => ({ said: `the browser's APIs could not be asked: ${e.message}`, answered: false }));
}

/** Picks files through the page's file input. */
export async function pickFiles(tab, ...paths) {
  tab = tabOf(tab);
  await tab.pickFiles("#file-input", paths);
}

/** The selector of the newest card of `fileName`. */
function cardSelector(fileName) {
  return `#upload-list .upload-card[data-file-name="${cssString(fileName)}"]`;
}

/** Presses a card's button (`pause`, `resume`, `cancel`). */
export async function click(tab, fileName, action) {
  tab = tabOf(tab);
  await tab.click(`${cardSelector(fileName)} [data-action="${action}"]`);
}

/**
 * What the newest card of `fileName` shows (null if there is none): its
 * status line, the object key of a done upload, its bytes, percent, parts
 * and resumed lines, its note (null when hidden), and which buttons are
 * visible.
 */
export async function shown(tab, fileName) {
  tab = tabOf(tab);
  return tab.evaluate(
    (selector) => {
      const cards = document.querySelectorAll(selector);
      const card = cards[0];
      if (!card) return null;
      const text = (s) => card.querySelector(s)?.textContent ?? null;
      const buttons = [...card.querySelectorAll("[data-action]")].filter((b) => !b.hidden && b.offsetParent !== null).map((b) => b.dataset.action);
      return {
        status: text(".status"),
        objectKey: text(".object-key"),
        bytes: text(".bytes"),
        percent: text(".percent"),
        parts: text(".parts"),
        resumed: text(".resumed"),
        note: card.querySelector(".note")?.hidden ? null : text(".note"),
        buttons,
      };
    },
    cardSelector(fileName),
  );
}

/** The page's plain state of the newest upload of `fileName`. */
export async function entry(tab, fileName) {
  tab = tabOf(tab);
  return tab.evaluate((name) => {
    const all = window.resuploadDemo.uploads.filter((u) => u.fileName === name);
    return all.length ? JSON.parse(JSON.stringify(all[all.length - 1])) : null;
  }, fileName);
}

/** Waits until the newest upload of `fileName` is in one of `statuses`. */
export async function waitForStatus(tab, fileName, statuses, timeout = 60_000) {
  const wanted = [].concat(statuses);
  return waitUntil(
    async () => {
      const e = await entry(tab, fileName);
      return e && wanted.includes(e.status) ? e : null;
    },
    { timeout, interval: 100, what: `the upload of ${fileName} to be ${wanted.join(" or ")}` },
  );
}

/** Waits until the upload of `fileName` is over; fails with the page's error unless it is done. */
export async function waitDone(tab, fileName, timeout = 120_000) {
  const e = await waitForStatus(tab, fileName, FINAL, timeout);
  assert.equal(e.status, "done", `the upload of ${fileName} ended as ${e.status}: ${JSON.stringify(e.error)}`);
  return e;
}

/** Waits until at least `count` parts of `fileName` are reported done on the page. */
export async function waitPartsDone(tab, fileName, count, timeout = 60_000) {
  await waitUntil(async () => (await entry(tab, fileName))?.partsDone >= count, {
    timeout,
    interval: 100,
    what: `${count} parts of ${fileName} done`,
  });
}

/** How many upload cards the page shows. */
export async function cardCount(tab) {
  tab = tabOf(tab);
  return tab.evaluate(() => document.querySelectorAll("#upload-list .upload-card").length);
}

/** The unfinished uploads the page lists (`data-file-name` of each item). */
export async function listedPending(tab) {
  tab = tabOf(tab);
  return tab.evaluate(() => {
    const section = document.querySelector("#pending-section");
    const items = [...document.querySelectorAll("#pending-list .pending-item")];
    const notices = [...document.querySelectorAll("#notice p")].map((p) => p.textContent);
    return { visible: !section.hidden, items: items.map((i) => ({ fileName: i.dataset.fileName, text: i.textContent })), notices };
  });
}

/** `Upload.listPending({namespace})`, called in the page from the wasm package itself (its `resupload/pending` build). */
export async function listPending(tab, namespace) {
  tab = tabOf(tab);
  return tab.evaluate(async (namespace) => {
    const mod = await import("/pkg/pending/resupload.js");
    await mod.default();
    const list = await mod.Upload.listPending({ namespace });
    return [...list].map((p) => ({ ...p }));
  }, namespace);
}

/**
 * The part numbers of the part PUTs that reached the store gate since
 * `mark` (`stack.gate.mark()`), sorted: every PUT the page sent, in any
 * engine, whether the store took it or not.
 */
export function partPutsSince(stack, mark) {
  return stack.gate
    .since(mark)
    .filter((p) => p.partNumber > 0)
    .map((p) => p.partNumber)
    .sort((a, b) => a - b);
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
