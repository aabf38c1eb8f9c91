// Uploads driven through the library's API inside a page, in any browser:
// the page makes its file (deterministic bytes, so the same file can be made
// again after a reload), starts an `Upload`, and keeps its outcome and
// events on `window.e2e.runs[name]`; the test polls them.
//
//   await startUpload(tab, "a", { file: { name: "a.bin", size }, options: { namespace } });
//   await waitUntil(() => stack.gate.completedCount() >= 2);
//   const run = await waitOutcome(tab, "a"); // { result } or { error: { code, message } }, with events
//
// A run's `file` is `{ name, size, seed?, lastModified?, flip? }` (`flip`:
// offsets whose byte is xored with 0xff), `{ stream: { id, size, seed } }`
// for a streaming source whose bytes are made by `read`, or
// `{ picked: selector, from, to }` for a slice of a file picked through an
// input of the page, or `{ opfs: name }` for the handle of a file of the
// origin-private file system (see `writeOpfsFile`).

import { waitUntil } from "./harness.mjs";

/** Installs `window.e2e` in the page (runs in the page; safe to call again). */
function install() {
  if (window.e2e) return;
  const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
  // Byte x of content `seed`: a hash of (x, seed), so any range can be made on its own.
  const byte = (x, seed) => {
    let h = Math.imul(x ^ seed, 0x9e3779b1);
    h ^= h >>> 15;
    return Math.imul(h, 0x85ebca77) >>> 24;
  };
  const fill = (out, offset, seed) => {
    for (let i = 0; i < out.length; i++) out[i] = byte(offset + i, seed);
    return out;
  };
  let lib = null;
  // What the page started as workers, and what it warned on the console
  // (the library warns there when it hashes on the page's thread).
  const workers = [];
  const consoleWarnings = [];
  if (window.Worker) {
    window.Worker = class extends window.Worker {
      constructor(url, options) {
        super(url, options);
        workers.push(String(url));
      }
    };
  }
  const warn = console.warn;
  console.warn = (...args) => {
    consoleWarnings.push(args.map(String).join(" "));
    warn.apply(console, args);
  };
  window.e2e = {
    runs: {},
    workers,
    consoleWarnings,
    /** The wasm package, loaded and initialised once. */
    lib() {
      lib ??= import("/pkg/resupload.js").then(async (mod) => {
        await mod.default();
        return mod;
      });
      return lib;
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
      if (spec.picked) {
        // A slice of a file picked through the input `spec.picked`.
        const { picked, from, to } = spec;
        const source = document.querySelector(picked).files[0].slice(from, to);
        const sha256 = hex(await crypto.subtle.digest("SHA-256", await source.arrayBuffer()));
        return { source, sha256 };
      }
      if (spec.stream) {
        const { id, size, seed = 1 } = spec.stream;
        const source = { id, name: `${id}.bin`, size, read: (offset, length) => fill(new Uint8Array(length), offset, seed) };
        const sha256 = hex(await crypto.subtle.digest("SHA-256", fill(new Uint8Array(size), 0, seed)));
        return { source, sha256 };
      }
      const { name, size, seed = 1, lastModified = 1_700_000_000_000, flip = [] } = spec;
      const bytes = fill(new Uint8Array(size), 0, seed);
      for (const at of flip) bytes[at] ^= 0xff;
      const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
      return { source: new File([bytes], name, { lastModified }), sha256 };
    },
    /** Starts run `name`: an upload of `file` with `options` (endpoint /api/s3 by default). */
    async start(name, { file, options = {} }) {
      const { Upload } = await window.e2e.lib();
      const { source, sha256 } = await window.e2e.source(file);
      const run = { sha256, outcome: null, resumes: [], restarts: [], warnings: [], source };
      run.upload = new Upload(source, {
        endpoint: "/api/s3",
        partSize: 5 * 2 ** 20,
        ...options,
        onResume: (r) => run.resumes.push({ ...r }),
        onRestart: (r) => run.restarts.push(r.reason),
        onWarning: (w) => run.warnings.push(w.code),
      });
      window.e2e.runs[name] = run;
      window.e2e.resume(name);
      return { sha256 };
    },
    /** Calls `start()` of run `name` (again, after a pause). */
    resume(name) {
      const run = window.e2e.runs[name];
      run.outcome = null;
      run.upload.start().then(
        (result) => (run.outcome = { result: { ...result } }),
        (e) => (run.outcome = { error: { code: e.code, message: e.message } }),
      );
    },
    /** What run `name` has reported so far (JSON). */
    report(name) {
      const run = window.e2e.runs[name];
      if (!run) return null;
      const { sha256, outcome, resumes, restarts, warnings } = run;
      return { sha256, outcome, resumes, restarts, warnings };
    },
    /** The stored record of run `name`'s file (`Upload.findPrevious`), or null. */
    async stored(name, namespace) {
      const { Upload } = await window.e2e.lib();
      const found = await Upload.findPrevious(window.e2e.runs[name].source, { endpoint: "/api/s3", namespace });
      return found ? { ...found } : null;
    },
  };
}

/** Installs the page helpers in `tab` (after each navigation). */
export async function installHelpers(tab) {
  await tab.evaluate(install);
}

/** Starts run `name` in `tab` (see the top of this file); answers `{ sha256 }`. */
export async function startUpload(tab, name, spec) {
  await installHelpers(tab);
  return tab.evaluate(({ name, spec }) => window.e2e.start(name, spec), { name, spec });
}

/** What run `name` reported so far: `{ sha256, outcome, resumes, restarts, warnings }`. */
export async function report(tab, name) {
  return tab.evaluate((name) => window.e2e.report(name), name);
}

/** Waits until run `name` ends; answers its report. */
export async function waitOutcome(tab, name, timeout = 120_000) {
  return waitUntil(
    async () => {
      const r = await report(tab, name);
      return r?.outcome ? r : null;
    },
    { timeout, interval: 100, what: `upload ${name} to end` },
  );
}

/** Calls `start()` of run `name` again (after a pause). */
export async function resume(tab, name) {
  await tab.evaluate((name) => window.e2e.resume(name), name);
}

/** Pauses run `name`. */
export async function pause(tab, name) {
  await tab.evaluate((name) => window.e2e.runs[name].upload.pause(), name);
}

/** The stored record of run `name`'s file, once it has `parts` parts done. */
export async function waitStored(tab, name, namespace, parts = 1, timeout = 60_000) {
  return waitUntil(
    async () => {
      const found = await tab.evaluate(({ name, namespace }) => window.e2e.stored(name, namespace), { name, namespace });
      return found && found.partsDone >= parts ? found : null;
    },
    { timeout, interval: 100, what: `the record of ${name} to count ${parts} parts done` },
  );
}

/** The workers the page started and its console warnings, since the helpers were installed. */
export async function pageActivity(tab) {
  return tab.evaluate(() => ({ workers: [...window.e2e.workers], consoleWarnings: [...window.e2e.consoleWarnings] }));
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

/** The names of the staged copies resupload keeps (none where there is no OPFS). */
export async function stagedCopies(tab) {
  return tab.evaluate(async () => {
    if (typeof navigator.storage?.getDirectory !== "function") return [];
    const root = await navigator.storage.getDirectory();
    let dir;
    try {
      dir = await root.getDirectoryHandle("resupload-staging");
    } catch {
      return [];
    }
    const names = [];
    for await (const name of dir.keys()) names.push(name);
    return names;
  });
}

/** `Upload.resumePending(entry, options)` of the pending entry of `fileName`, started as run `name`. */
export async function resumePending(tab, name, fileName, namespace, options = {}) {
  await installHelpers(tab);
  return tab.evaluate(
    async ({ name, fileName, namespace, options }) => {
      const { Upload } = await window.e2e.lib();
      const entry = [...(await Upload.listPending({ namespace }))].find((p) => p.fileName === fileName);
      if (!entry) return { error: { code: "NOT_LISTED" } };
      const run = { sha256: null, outcome: null, resumes: [], restarts: [], warnings: [], source: null };
      try {
        run.upload = await Upload.resumePending(entry, {
          ...options,
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

/** `Upload.listPending({ namespace })` in the page. */
export async function pending(tab, namespace) {
  await installHelpers(tab);
  return tab.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib();
    return [...(await Upload.listPending({ namespace }))].map((p) => ({ ...p }));
  }, namespace);
}
