// The hash worker: SHA-256 of part blobs, off the page's main thread.
//
// A leaf module (it imports nothing), started by hash_client.js with
// `new Worker(new URL("./hash_worker.js", import.meta.url), { type: "module" })`,
// which Vite, webpack 5 and other bundlers emit as an asset of its own: it
// never runs the app's code. scripts/build.mjs puts it beside
// hash_client.js in the package.
//
// Messages in: `{ module }` once (the library's compiled wasm module, not
// downloaded again), then `{ id, blob }`, and `{ giveUp: id }` for a hash
// no longer wanted (a paused upload's): skipped if it has not begun, else
// stopped at once (a read under way is left to itself) or after the chunk
// under way, and answered with nothing. Out: `{ ready: true }` or
// `{ ready: false, error }`, then `{ id, progress: true }` after each chunk,
// `{ id, reading: true }` every HEARTBEAT_MS while a read is under way, and
// `{ id, digest }` or `{ id, error, unreadable? }` at the end
// (`unreadable`: the Blob could not be read, the name of the read's error).
//
// A part up to WHOLE_BYTES is read whole and hashed by WebCrypto (native
// code: 2.4-3.4x sha2's speed in bench/hash.mjs). (Read in 8 or 16 MiB
// slices with a progress message after each, a 64 MiB part hashed about
// 38% or 28% slower in bench/hash.mjs.) A slow source (a network share, a
// cloud file fetched on first read) can take longer to read than the page
// waits for a sign of life: the heartbeat says the worker is alive while
// its read waits, and a read is given up, as unreadable ("TimeoutError"),
// after as long as the page would give it in chunks (READ_MS_PER_CHUNK for
// each CHUNK_BYTES of the page's, hash.rs). The page then reads that part
// itself and keeps the worker. A larger part, or any part
// where WebCrypto is missing (not a secure context), goes through sha2 in
// the library's wasm, read in CHUNK_BYTES slices: `slice()` + `arrayBuffer()`
// rather than `Blob.stream()`, which throws NotReadableError on files of
// 4 GiB or more in WebKit (WebKit bug 272600). Blobs are hashed one at a
// time, in the order asked, so the worker holds at most one part.

const WHOLE_BYTES = 64 * 1024 * 1024;
const CHUNK_BYTES = 8 * 1024 * 1024;
/** How often a read under way says the worker is alive: well within the
 *  page's 30 s wait for a sign of life (hash_client.js). */
const HEARTBEAT_MS = 10_000;
/** A read may take this long for each PAGE_CHUNK_BYTES: the page's own
 *  bound for reading one of its chunks (READ_TIMEOUT_MS, blob.rs), so a
 *  source the page could read, the worker reads too. */
const READ_MS_PER_CHUNK = 30_000;
const PAGE_CHUNK_BYTES = 4 * 1024 * 1024;

/** The library's wasm, for its plain sha2 exports (resupload_sha256_*). */
let sha2 = null;
let queue = Promise.resolve();
/** Ids given up and not reached yet; ids come in order, so one at or below
 *  `ended` (the last hash ended) is never kept. */
const givenUp = new Set();
let ended = -1;
/** Thrown out of a hash given up midway. */
const GIVEN_UP = Symbol("given up");
/** The id of the hash under way, and what ends its read at once when it
 *  is given up: the hashes behind it do not wait for a read no one wants. */
let current = -1;
let stopRead = null;

/**
 * Imports that do nothing but fail loudly: the sha2 exports call none of
 * them, and none of the wasm-bindgen glue runs here.
 */
function inertImports(module) {
  const imports = {};
  for (const { module: space, name, kind } of WebAssembly.Module.imports(module)) {
    if (kind !== "function") throw new Error(`the module imports a ${kind} (${space}.${name})`);
    imports[space] ??= {};
    imports[space][name] = () => {
      throw new Error(`the hash worker's wasm called ${space}.${name}`);
    };
  }
  return imports;
}

/**
 * The bytes of `blob`, saying `alive()` every HEARTBEAT_MS while the read
 * waits. A read that fails is the file's doing (changed or gone since it
 * was picked), not the worker's: marked `unreadable`, so the page keeps
 * its worker. So is a read that outlasts its bound (`readBoundMs`).
 */
async function bytesOf(blob, alive) {
  const heartbeat = setInterval(alive, HEARTBEAT_MS);
  const bound = readBoundMs(blob.size);
  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`no bytes within ${bound / 1000} s`);
      error.name = "TimeoutError";
      reject(error);
    }, bound);
  });
  const givenUpNow = new Promise((_, reject) => {
    stopRead = () => reject(GIVEN_UP);
  });
  try {
    return await Promise.race([blob.arrayBuffer(), timedOut, givenUpNow]);
  } catch (e) {
    if (e === GIVEN_UP) throw e;
    throw Object.assign(new Error(String(e?.message ?? e)), { unreadable: String(e?.name ?? "Error") });
  } finally {
    stopRead = null;
    clearInterval(heartbeat);
    clearTimeout(timer);
  }
}

/** How long a read of `size` bytes may take: the page's bound for each of
 *  the chunks it would read them in. */
function readBoundMs(size) {
  return READ_MS_PER_CHUNK * Math.max(1, Math.ceil(size / PAGE_CHUNK_BYTES));
}

async function withSha2(blob, progress, alive) {
  const wasm = (await sha2).exports;
  wasm.resupload_sha256_begin();
  for (let at = 0; at < blob.size; at += CHUNK_BYTES) {
    const bytes = new Uint8Array(await bytesOf(blob.slice(at, Math.min(blob.size, at + CHUNK_BYTES)), alive));
    const pointer = wasm.resupload_sha256_buffer(bytes.length);
    new Uint8Array(wasm.memory.buffer, pointer, bytes.length).set(bytes);
    wasm.resupload_sha256_update(bytes.length);
    progress();
  }
  const digest = wasm.resupload_sha256_finish();
  return new Uint8Array(wasm.memory.buffer, digest, 32).slice();
}

async function digestOf(blob, progress, alive) {
  if (globalThis.crypto?.subtle && blob.size <= WHOLE_BYTES) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", await bytesOf(blob, alive)));
  }
  return withSha2(blob, progress, alive);
}

function start(module) {
  sha2 = WebAssembly.instantiate(module, inertImports(module));
  sha2.then(
    () => postMessage({ ready: true }),
    (e) => postMessage({ ready: false, error: String(e?.message ?? e) }),
  );
}

onmessage = ({ data }) => {
  if (data.module) {
    try {
      start(data.module);
    } catch (e) {
      postMessage({ ready: false, error: String(e?.message ?? e) });
    }
    return;
  }
  if (data.giveUp !== undefined) {
    if (data.giveUp > ended) givenUp.add(data.giveUp);
    if (data.giveUp === current) stopRead?.();
    return;
  }
  const { id, blob } = data;
  queue = queue.then(() => hashOne(id, blob));
};

/** Hashes `blob` for message `id`, and answers, unless it is given up. */
async function hashOne(id, blob) {
  const progress = () => {
    if (givenUp.has(id)) throw GIVEN_UP;
    postMessage({ id, progress: true });
  };
  // Called by a timer: it must not throw (an uncaught error would fail
  // the worker); a hash given up is dropped after its read.
  const alive = () => {
    if (!givenUp.has(id)) postMessage({ id, reading: true });
  };
  current = id;
  try {
    if (givenUp.has(id)) return;
    const digest = await digestOf(blob, progress, alive);
    if (!givenUp.has(id)) postMessage({ id, digest }, [digest.buffer]);
  } catch (e) {
    if (e !== GIVEN_UP) postMessage({ id, error: String(e?.message ?? e), unreadable: e?.unreadable });
  } finally {
    givenUp.delete(id);
    ended = id;
  }
}
