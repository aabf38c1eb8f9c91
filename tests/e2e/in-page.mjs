// Uploads driven through the library's API inside a page, in any browser:
// the page makes its file (deterministic bytes, so the same file can be made
// again after a reload), starts an `Upload`, and keeps its outcome and
// events on `window.e2e.runs[name]`; the test polls them.
//
//   await startUpload(tab, "a", { file: { name: "a.bin", size }, options: { namespace } });
//   await waitUntil(() => stack.gate.completedCount() >= 2);
//   const run = await waitOutcome(tab, "a"); // { result } or { error: { code, message, status?, stack? } }, with events
//
// A run's `file` is `{ name, size, seed?, lastModified?, flip?, type? }`
// (`flip`: offsets whose byte is xored with 0xff), `{ stream: { id, size,
// seed } }` for a streaming source whose bytes are made by `read`,
// `{ picked: selector, from, to }` for a slice of a file picked through an
// input of the page, `{ picked: selector }` for the whole picked file, or
// `{ opfs: name }` for the handle of a file of the origin-private file
// system (see `writeOpfsFile`), or `{ opfsFile: name }` for the File that
// handle gives now (a snapshot: once the file is written again, reading
// it fails, as a picked file changed on disk).
// `contentBytes(file)` makes the same bytes here in Node.
// `options.headers: "bearer"` sends `Authorization: Bearer <window.e2e.auth.token>`
// through a `headers` function (see `auth` below).
//
// Each function takes a tab of browsers.mjs; a Playwright page works as
// well (they only call `evaluate`).
//
// `events: ["onExpiringSoon", …]` names Upload callbacks whose every
// argument the run keeps in `events[name]` (besides `resumes`, `restarts`
// and `warnings`, which are always kept).

import { engineHangOf, engineTrapOf } from "./engine-traps.mjs";
import { waitUntil } from "./harness.mjs";

/** Byte `x` of content `seed`: a hash of (x, seed), so any range can be made on its own (here and, as text, in the page). */
function contentByte(x, seed) {
  let h = Math.imul(x ^ seed, 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca77) >>> 24;
}

/** The bytes the page makes for a run's `file` (a deterministic file or a stream), made here in Node. */
export function contentBytes(file) {
  const { size, seed = 1, flip = [] } = file.stream ?? file;
  const bytes = Buffer.alloc(size);
  for (let x = 0; x < size; x++) bytes[x] = contentByte(x, seed);
  for (const at of flip) bytes[at] ^= 0xff;
  return bytes;
}

/** Installs `window.e2e` in the page (runs in the page, given `contentByte` as text; safe to call again). */
function install(byteSource) {
  if (window.e2e) return;
  const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const byte = (0, eval)(`(${byteSource})`);
  const fill = (out, offset, seed) => {
    for (let i = 0; i < out.length; i++) out[i] = byte(offset + i, seed);
    return out;
  };
  const libs = {};
  // What the page started as workers, and what it warned or logged as an
  // error on the console (the library warns there when it hashes on the
  // page's thread, and logs a callback that threw as an error).
  // `hashed` counts the digests the hash worker answered, and the chunks it
  // said it hashed (parts over 64 MiB, through sha2).
  const workers = [];
  const hashed = { digests: 0, chunks: 0 };
  const consoleWarnings = [];
  const consoleErrors = [];
  if (window.Worker) {
    window.Worker = class extends window.Worker {
      constructor(url, options) {
        super(url, options);
        workers.push(String(url));
        this.addEventListener("message", ({ data }) => {
          if (data?.digest) hashed.digests += 1;
          if (data?.progress) hashed.chunks += 1;
        });
      }
    };
  }
  for (const [level, lines] of [["warn", consoleWarnings], ["error", consoleErrors]]) {
    const write = console[level];
    console[level] = (...args) => {
      lines.push(args.map(String).join(" "));
      write.apply(console, args);
    };
  }
  /** An IDBRequest's result, once it succeeds. */
  const requested = (request) =>
    new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  window.e2e = {
    runs: {},
    /** `read(db, requested)` over the library's database ("resupload"), closed after;
     *  `requested(request)` waits for an IDBRequest's result. */
    async idb(read) {
      const db = await requested(indexedDB.open("resupload"));
      try {
        return await read(db, requested);
      } finally {
        db.close();
      }
    },
    /** What `headers: "bearer"` sends: `auth.token`; asked to refresh (after a 401), it takes
     *  `auth.next` if the test set one. `auth.asked` lists each call's `refresh`. */
    auth: { token: null, next: null, asked: [] },
    bearer({ refresh }) {
      const auth = window.e2e.auth;
      auth.asked.push(refresh);
      if (refresh && auth.next) [auth.token, auth.next] = [auth.next, null];
      return { authorization: `Bearer ${auth.token}` };
    },
    workers,
    hashed,
    consoleWarnings,
    consoleErrors,
    /** The wasm package, loaded and initialised once: its default build (`Upload`), with
     *  `"pending"` its `resupload/pending` build (`Upload` and its static lookups), or with
     *  `"queue"` its `resupload/queue` build (all of it, and `UploadQueue`). A page may load
     *  more than one: they share what is stored in the browser, as two pages of one site do. */
    lib(entry = "") {
      libs[entry] ??= import(`/pkg/${entry ? `${entry}/` : ""}resupload.js`).then(async (mod) => {
        await mod.default();
        return mod;
      });
      return libs[entry];
    },
    /** `{ source, sha256 }` for a run's `file` spec. */
    async source(spec) {
      if (spec.opfs) {
        // A file of the origin-private file system, by its handle: what
        // showOpenFilePicker gives, without a prompt.
        const root = await navigator.storage.getDirectory();
        const source = await root.getFileHandle(spec.opfs);
        const sha256 = hex(await crypto.subtle.digest("SHA-256", await (await source.getFile()).arrayBuffer()));
        return { source, sha256 };
      }
      if (spec.opfsFile) {
        const root = await navigator.storage.getDirectory();
        const source = await (await root.getFileHandle(spec.opfsFile)).getFile();
        const sha256 = hex(await crypto.subtle.digest("SHA-256", await source.arrayBuffer()));
        return { source, sha256 };
      }
      if (spec.picked) {
        // The file picked through the input `spec.picked`, or a slice of it.
        const { picked, from, to } = spec;
        const file = document.querySelector(picked).files[0];
        const source = "from" in spec ? file.slice(from, to) : file;
        const sha256 = hex(await crypto.subtle.digest("SHA-256", await source.arrayBuffer()));
        return { source, sha256 };
      }
      if (spec.stream) {
        // `reuse`: every read fills the same scratch buffer and gives it.
        const { id, size, seed = 1, reuse = false } = spec.stream;
        let scratch = new Uint8Array(0);
        const read = (offset, length) => {
          if (!reuse) return fill(new Uint8Array(length), offset, seed);
          if (scratch.length < length) scratch = new Uint8Array(length);
          return fill(scratch.subarray(0, length), offset, seed);
        };
        const source = { id, name: `${id}.bin`, size, read };
        const sha256 = hex(await crypto.subtle.digest("SHA-256", fill(new Uint8Array(size), 0, seed)));
        return { source, sha256 };
      }
      const { name, size, seed = 1, lastModified = 1_700_000_000_000, flip = [], type = "" } = spec;
      const bytes = fill(new Uint8Array(size), 0, seed);
      for (const at of flip) bytes[at] ^= 0xff;
      const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
      return { source: new File([bytes], name, { lastModified, type }), sha256 };
    },
    /** Starts run `name`: an upload of `file` with `options` (endpoint /api/s3 by default), keeping
     *  `events`, by the `Upload` of `build` (see `lib`; the default build unless given). */
    async start(name, { file, options = {}, events = [], build = "" }) {
      const { Upload } = await window.e2e.lib(build);
      const { source, sha256 } = await window.e2e.source(file);
      const run = { sha256, outcome: null, ms: null, resumes: [], restarts: [], warnings: [], events: {}, source, build };
      for (const on of events) run.events[on] = [];
      const keep = (on, value) => run.events[on]?.push(typeof value === "object" ? { ...value } : value);
      const trailed = window.e2e.trailed(run);
      run.upload = new Upload(source, {
        endpoint: "/api/s3",
        partSize: 5 * 2 ** 20,
        ...options,
        ...(options.headers === "bearer" && { headers: window.e2e.bearer }),
        ...Object.fromEntries(events.map((on) => [on, (value) => keep(on, value)])),
        onProgress: (p) => (keep("onProgress", p), trailed.onProgress(p)),
        onPartComplete: (p) => (keep("onPartComplete", p), trailed.onPartComplete(p)),
        onResume: (r) => (keep("onResume", r), run.resumes.push({ ...r })),
        onRestart: (r) => (keep("onRestart", r), run.restarts.push(r.reason)),
        onWarning: (w) => (keep("onWarning", w), run.warnings.push(w.code)),
      });
      window.e2e.runs[name] = run;
      window.e2e.resume(name);
      return { sha256 };
    },
    /** Gives `run` a trail (how far it got and when it last moved, for a wait that times
     *  out); answers the `onProgress` and `onPartComplete` callbacks that keep it. */
    trailed(run) {
      run.trail = { progress: null, partsComplete: [], lastEventAt: null };
      const moved = () => (run.trail.lastEventAt = performance.now());
      return {
        onProgress: (p) => (moved(), (run.trail.progress = { ...p })),
        onPartComplete: (p) => (moved(), run.trail.partsComplete.push(p.partNumber)),
      };
    },
    /** Calls `start()` of run `name` (again, after a pause); `ms` is how long it ran. */
    resume(name) {
      const run = window.e2e.runs[name];
      run.outcome = null;
      const started = (run.startedAt = performance.now());
      const end = (outcome) => {
        run.ms = performance.now() - started;
        run.outcome = outcome;
      };
      run.upload.start().then(
        (result) => end({ result: { ...result } }),
        // A trap's stack names the module's function (its index) where it struck.
        (e) => end({ error: { code: e.code, message: e.message, ...(e.status && { status: e.status }), ...(e.cause?.stack && { stack: String(e.cause.stack) }) } }),
      );
    },
    /** What run `name` has reported so far (JSON). */
    report(name) {
      const run = window.e2e.runs[name];
      if (!run) return null;
      const { sha256, outcome, ms, resumes, restarts, warnings, events } = run;
      // The trail, with how long the run has run since it last started, and stood still.
      const since = (at) => Math.round(performance.now() - at);
      const { startedAt, trail: { lastEventAt } = {} } = run;
      const trail = { ...run.trail, runningMs: since(startedAt), stillMs: since(Math.max(lastEventAt ?? 0, startedAt)) };
      return { sha256, outcome, ms, resumes, restarts, warnings, events, trail };
    },
    /** The stored record of run `name`'s file (`Upload.findPrevious`), or null: asked of the
     *  run's own build if it has the lookups (it alone sees a record kept in memory), else of
     *  `resupload/pending` (which sees what the run stored in IndexedDB). */
    async stored(name, namespace) {
      const { source, build } = window.e2e.runs[name];
      try {
        return await window.e2e.findPrevious(source, namespace, build || "pending");
      } catch (e) {
        // The module trapped (guard.js): answered with the trap's own stack,
        // so that a known fault of an engine is told from a failure.
        if (e?.code !== "INTERNAL_ERROR") throw e;
        return { trap: { code: e.code, message: e.message, stack: String(e.cause?.stack ?? "") } };
      }
    },
    /** `Upload.findPrevious(source)` of `build` (`resupload/pending` unless given), or null. */
    async findPrevious(source, namespace, build = "pending") {
      const { Upload } = await window.e2e.lib(build);
      const found = await Upload.findPrevious(source, { endpoint: "/api/s3", namespace });
      return found ? { ...found } : null;
    },
  };
}

/**
 * How many files of queue batch `name` have their done markers stored, as
 * `UploadQueue.listPending` reads them (0 before the batch is): a file's
 * `onFile` comes before its marker is written, so a reload after the
 * callback alone may lose the marker.
 */
export async function markersStored(tab, name) {
  await installHelpers(tab);
  return tab.evaluate(async (name) => {
    const { UploadQueue } = await window.e2e.lib("queue");
    return (await UploadQueue.listPending()).find((b) => b.name === name)?.filesDone ?? 0;
  }, name);
}

/** Installs the page helpers in `tab` (after each navigation). */
export async function installHelpers(tab) {
  await tab.evaluate(install, contentByte.toString());
}

/** Starts run `name` in `tab` (see the top of this file); answers `{ sha256 }`. */
export async function startUpload(tab, name, spec) {
  await installHelpers(tab);
  return tab.evaluate(({ name, spec }) => window.e2e.start(name, spec), { name, spec });
}

/** What run `name` reported so far: `{ sha256, outcome, ms, resumes, restarts, warnings, events }`. */
export async function report(tab, name) {
  return tab.evaluate((name) => window.e2e.report(name), name);
}

/** Run `name`'s report once it has ended, else null. */
export async function endedReport(tab, name) {
  const run = await report(tab, name);
  return run?.outcome ? run : null;
}

/**
 * Waits until run `name` ends; answers its report. Throws an `EngineTrap`
 * for a trap of WPE's, an `EngineHang` for a run WPE left without an end
 * (engine-traps.mjs), and a wait that times out otherwise says how far the
 * run got. The default `timeout` ends before the tests' usual 120 s.
 */
export async function waitOutcome(tab, name, timeout = 90_000) {
  const ended = await waitUntil(() => endedReport(tab, name), { timeout, interval: 100, what: `upload ${name} to end` }).catch(async (error) => {
    throw engineHangOf(await report(tab, name).catch(() => null), error);
  });
  const trap = engineTrapOf(ended);
  if (trap) throw trap;
  return ended;
}

/** Calls `start()` of run `name` again (after a pause). */
export async function resume(tab, name) {
  await tab.evaluate((name) => window.e2e.resume(name), name);
}

/** Pauses run `name`. */
export async function pause(tab, name) {
  await tab.evaluate((name) => window.e2e.runs[name].upload.pause(), name);
}

/**
 * The stored record of run `name`'s file, once it has `parts` parts done.
 * A trap of the module while it is read fails at once: in the faulty
 * engine as an `EngineTrap` (engine-traps.mjs), for the test's second try.
 */
export async function waitStored(tab, name, namespace, parts = 1, timeout = 60_000) {
  const found = await waitUntil(
    async () => {
      const found = await tab.evaluate(({ name, namespace }) => window.e2e.stored(name, namespace), { name, namespace });
      return found?.trap || found?.partsDone >= parts ? found : null;
    },
    { timeout, interval: 100, what: `the record of ${name} to count ${parts} parts done` },
  );
  if (found.trap) {
    throw engineTrapOf({ outcome: { error: found.trap } }) ?? new Error(`the module trapped while the record of ${name} was read: ${found.trap.message}`);
  }
  return found;
}

/** The workers the page started, the digests and chunks its hash worker answered, and its console
 *  warnings and errors, since the helpers were installed. */
export async function pageActivity(tab) {
  return tab.evaluate(() => ({
    workers: [...window.e2e.workers],
    workerDigests: window.e2e.hashed.digests,
    workerChunks: window.e2e.hashed.chunks,
    consoleWarnings: [...window.e2e.consoleWarnings],
    consoleErrors: [...window.e2e.consoleErrors],
  }));
}

/**
 * The origin-private file system here: "works", "refused" (it is there but
 * `getDirectory()` rejects, as in a private window: WebKitGTK's ephemeral
 * WebDriver session) or "none".
 */
export async function opfsState(tab) {
  return tab.evaluate(async () => {
    if (typeof navigator.storage?.getDirectory !== "function") return "none";
    return navigator.storage.getDirectory().then(
      () => "works",
      () => "refused",
    );
  });
}

/**
 * Whether the page can write files of the origin-private file system
 * (`createWritable`), the tests' stand-in for files a person picks: a
 * handle of one stands for a picked file's handle, a folder of them for a
 * picked folder. `state` is the tab's `opfsState`, where the caller has it.
 */
export async function canWriteOpfs(tab, state) {
  if ((state ?? (await opfsState(tab))) !== "works") return false;
  return tab.evaluate(() => typeof globalThis.FileSystemFileHandle?.prototype?.createWritable === "function");
}

/**
 * Writes `size` deterministic bytes of content `seed` as the file `name` of
 * the origin-private file system (replacing it); answers false where the
 * browser has none.
 */
export async function writeOpfsFile(tab, name, size, seed = 1) {
  await installHelpers(tab);
  return tab.evaluate(async ({ name, size, seed }) => {
    if (typeof navigator.storage?.getDirectory !== "function") return false;
    const root = await navigator.storage.getDirectory();
    const handle = await root.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    const { source } = await window.e2e.source({ name, size, seed });
    await writable.write(source);
    await writable.close();
    return true;
  }, { name, size, seed });
}

/** The names of the staged copies resupload keeps (none where there is no OPFS, or it is refused). */
export async function stagedCopies(tab) {
  return tab.evaluate(async () => {
    if (typeof navigator.storage?.getDirectory !== "function") return [];
    let dir;
    try {
      const root = await navigator.storage.getDirectory();
      dir = await root.getDirectoryHandle("resupload-staging");
    } catch {
      return [];
    }
    const names = [];
    for await (const name of dir.keys()) names.push(name);
    return names;
  });
}

/**
 * What resupload keeps in IndexedDB to continue record `id` without
 * picking (its `handles` store), as the names of the entry's fields with
 * their types; `null` when nothing is kept.
 */
export async function keptEntry(tab, id) {
  await installHelpers(tab);
  return tab.evaluate(async (id) => {
    const entry = await window.e2e.idb((db, requested) => requested(db.transaction("handles").objectStore("handles").get(id)));
    return entry === undefined ? null : Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, typeof v === "string" ? v : typeof v]));
  }, id);
}

/** `Upload.resumePending(entry, options)` of the pending entry of `fileName`, started as run `name`. */
export async function resumePending(tab, name, fileName, namespace, options = {}) {
  await installHelpers(tab);
  return tab.evaluate(
    async ({ name, fileName, namespace, options }) => {
      const { Upload } = await window.e2e.lib("pending");
      const entry = [...(await Upload.listPending({ namespace }))].find((p) => p.fileName === fileName);
      if (!entry) return { error: { code: "NOT_LISTED" } };
      const run = { sha256: null, outcome: null, ms: null, resumes: [], restarts: [], warnings: [], events: {}, source: null };
      try {
        run.upload = await Upload.resumePending(entry, {
          ...options,
          ...window.e2e.trailed(run),
          onResume: (r) => run.resumes.push({ ...r }),
          onRestart: (r) => run.restarts.push(r.reason),
          onWarning: (w) => run.warnings.push(w.code),
        });
      } catch (e) {
        return { error: { code: e.code, message: e.message } };
      }
      window.e2e.runs[name] = run;
      window.e2e.resume(name);
      return { entry: { ...entry } };
    },
    { name, fileName, namespace, options },
  );
}

/** `Upload.clearPending({ namespace })` in the page (`resupload/pending`): how many it forgot. */
export async function clearPending(tab, namespace) {
  await installHelpers(tab);
  return tab.evaluate(async (namespace) => (await window.e2e.lib("pending")).Upload.clearPending({ namespace }), namespace);
}

/** `Upload.listPending({ namespace, ...lookup })` in the page. */
export async function pending(tab, namespace, lookup = {}) {
  await installHelpers(tab);
  return tab.evaluate(async (options) => {
    const { Upload } = await window.e2e.lib("pending");
    return [...(await Upload.listPending(options))].map((p) => ({ ...p }));
  }, { namespace, ...lookup });
}

/** The stored record of `file` (a run's file spec), made afresh in the page: `Upload.findPrevious`, or null. */
export async function findPrevious(tab, file, namespace) {
  await installHelpers(tab);
  return tab.evaluate(async ({ file, namespace }) => window.e2e.findPrevious((await window.e2e.source(file)).source, namespace), { file, namespace });
}
