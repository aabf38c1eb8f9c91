// Files reached without picking them again: the File System Access API's
// handles (a picked file's, in Chromium) and copies staged in the
// origin-private file system (OPFS, in every engine that has it). Thin
// wrappers the Rust side calls; each failure comes back as an Error whose
// `name` is the DOMException's, so the caller classifies it once. Importing
// this module touches no browser global.

const STAGING_DIR = "resupload-staging";
/** Bytes copied per write while staging: bounded memory, steady progress. */
const COPY_CHUNK = 8 * 1024 * 1024;

/** Whether `value` is a FileSystemFileHandle (or acts as one). */
export function isFileHandle(value) {
  return value !== null && typeof value === "object" && value.kind === "file" && typeof value.getFile === "function";
}

/**
 * The read permission of `handle`: "granted", "denied" or "prompt". With
 * `ask`, a "prompt" is asked for (the browser needs a user gesture for it).
 * A handle with no permission API (OPFS in some engines) is "granted".
 */
export async function readPermission(handle, ask) {
  if (typeof handle.queryPermission !== "function") return "granted";
  const state = await handle.queryPermission({ mode: "read" });
  if (state !== "prompt" || !ask || typeof handle.requestPermission !== "function") return state;
  return handle.requestPermission({ mode: "read" });
}

/** The file behind `handle` (rejects with NotFoundError when it is gone). */
export function fileOf(handle) {
  return handle.getFile();
}

/** Whether this browser has an origin-private file system. */
function hasOpfs() {
  return typeof navigator !== "undefined" && typeof navigator.storage?.getDirectory === "function";
}

/** Whether its files can be written from the page (`createWritable`; Safari only from 26). */
function writableFromPage() {
  return typeof globalThis.FileSystemFileHandle?.prototype?.createWritable === "function";
}

/**
 * Whether this browser can stage copies at all: from the page, or else in
 * a worker through a sync access handle (copy_worker.js).
 */
export function canStage() {
  return hasOpfs() && (writableFromPage() || typeof Worker === "function");
}

/** The free room the origin has, in bytes (Infinity when it cannot tell). */
export async function freeRoom() {
  if (typeof navigator.storage?.estimate !== "function") return Infinity;
  const { quota, usage } = await navigator.storage.estimate();
  return typeof quota === "number" && typeof usage === "number" ? quota - usage : Infinity;
}

async function stagingDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(STAGING_DIR, { create: true });
}

/**
 * Copies `blob` into the staging folder as `name`, `COPY_CHUNK` bytes at a
 * time (the browser reads and writes; nothing passes through script
 * memory but one chunk's Blob slice). `signal.aborted` stops it between
 * chunks. The copy is found again by its name (`stagedFile`): its handle
 * is not kept, as Safari cannot store one in IndexedDB (DataCloneError).
 */
export async function stageCopy(name, blob, signal) {
  if (!writableFromPage()) return copyInWorker(name, blob, signal);
  const dir = await stagingDir();
  const handle = await dir.getFileHandle(name, { create: true });
  const writable = await handle.createWritable();
  const stopped = () => new DOMException("staging was stopped", "AbortError");
  try {
    for (let at = 0; at < blob.size; at += COPY_CHUNK) {
      if (signal.aborted) throw stopped();
      await writable.write(blob.slice(at, Math.min(blob.size, at + COPY_CHUNK)));
    }
    // Stopped during the last write: the run that stopped it has tried to
    // remove the copy already, and a close now would commit it whole.
    if (signal.aborted) throw stopped();
    await writable.close();
  } catch (e) {
    await writable.abort().catch(() => {});
    await dir.removeEntry(name).catch(() => {});
    throw e;
  }
  if (signal.aborted) {
    // Stopped while it closed: the same.
    await dir.removeEntry(name).catch(() => {});
    throw stopped();
  }
}

/** How long a stopped copy in a worker may take to close its file before the worker is ended. */
const STOP_GRACE_MS = 5_000;

/**
 * `stageCopy` in a worker of its own (copy_worker.js), for browsers whose
 * page cannot write files of the origin-private file system. Settles once:
 * when the copy is whole, fails or stops, or the worker fails to start.
 */
function copyInWorker(name, blob, signal) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./copy_worker.js", import.meta.url), { type: "module" });
    let grace;
    const stop = () => {
      worker.postMessage({ stop: true });
      grace = setTimeout(() => end(reject, new DOMException("staging was stopped", "AbortError")), STOP_GRACE_MS);
    };
    const end = (settle, value) => {
      signal.removeEventListener("abort", stop);
      clearTimeout(grace);
      worker.terminate();
      settle(value);
    };
    worker.onmessage = ({ data }) => {
      if (data.error) return end(reject, new DOMException(data.error.message, data.error.name));
      // Whole, but stopped meanwhile: the run that stopped it has tried to
      // remove it already (the worker's access handle kept it).
      if (signal.aborted) return removeCopy(name)
          .catch(() => {})
          .then(() => end(reject, new DOMException("staging was stopped", "AbortError")));
      end(resolve);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      end(reject, new Error(`the copy worker failed: ${event.message || "it could not start"}`));
    };
    signal.addEventListener("abort", stop, { once: true });
    worker.postMessage({ dir: STAGING_DIR, name, blob, chunk: COPY_CHUNK });
    if (signal.aborted) stop();
  });
}

/** The staged copy `name` (rejects with NotFoundError when there is none). */
export async function stagedFile(name) {
  const handle = await (await stagingDir()).getFileHandle(name);
  return handle.getFile();
}

/** Deletes the staged copy `name` (a missing one is no error). */
export async function removeCopy(name) {
  if (!hasOpfs()) return;
  const dir = await stagingDir();
  await dir.removeEntry(name).catch((e) => {
    if (e.name !== "NotFoundError") throw e;
  });
}

/** The names of every staged copy. */
export async function copyNames() {
  if (!hasOpfs()) return [];
  const names = [];
  for await (const name of (await stagingDir()).keys()) names.push(name);
  return names;
}
