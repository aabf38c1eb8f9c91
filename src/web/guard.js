// Nothing waits for ever on a module that trapped, and nothing runs in it
// after.
//
// A trap (an engine bug, as WPE 2.38's, or a Rust panic, which aborts)
// unwinds the task that was running, whose promise then never settles. So
// does any exception thrown through the module's frames: a browser API
// that throws where the module does not expect it to (the glue catches
// those it does), an engine's stack overflow (a RangeError). So whatever
// an export throws is a trap here, but for wasm-bindgen's own misuse
// errors (`misuse` below: a method called on a freed object, say), which
// it throws before any of the module's code runs: those reach the caller,
// and the module goes on. A trap leaves the module's state broken (its
// stack pointer, a borrowed cell, the allocator, the task queue): whatever
// runs in it next may do anything, hang or write wrong state. So the
// first trap closes the module:
//   - every promise of the API still pending rejects at once with a
//     ResuploadError INTERNAL_ERROR (the trap is its `cause`);
//   - every later call of the API ends with INTERNAL_ERROR at once without
//     entering the module: a method that returns a promise rejects, one
//     that returns a value throws; one that returns nothing (`pause()`:
//     nothing runs any more to stop) does nothing;
//   - the glue's own calls (allocation, freeing an object, a closure called
//     by a timer or a request's event) do nothing.
// The errors are made here, in JS. Every entry into the module goes through
// `watch`'s wrappers (the glue calls `watch(instance.exports, …)`:
// scripts/build.mjs puts it there), and a trap unwinds through the wrapper
// of the call it began in, so each trap is seen here, even one the page
// catches. A trap of another module of the page (an image resizer, a video
// transcoder) never passes through them, and ends nothing of resupload's.
// Importing this module touches no browser global.

const pending = new Set();
/** Whether the module trapped, and its first trap (what unwound out of it). */
let closedByTrap = false;
let trap;
/** Errors wasm-bindgen threw on purpose (see `misuse`). */
const misuses = new WeakSet();

/**
 * Marks `error` as wasm-bindgen's own (its `throw_str`, which the build
 * makes call this: scripts/build.mjs): a method of a freed object ("null
 * pointer passed to rust"), an object used while the module uses it, a
 * closure called after it was dropped. The module throws these before any
 * of its own code runs, so its state is whole; resupload's code never
 * calls `throw_str` itself. Answers `error`.
 * @param {Error} error
 */
export function misuse(error) {
  misuses.add(error);
  return error;
}

function internalError() {
  const error = new Error(
    `resupload stopped on an internal error (${trap?.message ?? String(trap)}); reload the page: ` +
      "an upload started again resumes from its stored state",
    { cause: trap },
  );
  error.name = "ResuploadError";
  error.code = "INTERNAL_ERROR";
  return error;
}

/** Resolves on the first trap: what the module holds outside itself (its
 *  Web Locks, which other tabs wait for) is let go of then. */
let letGo;
const closed = new Promise((resolve) => (letGo = resolve));

/** A promise that resolves when the module is closed by a trap. */
export function whenClosed() {
  return closed;
}

/**
 * Lets another tab upgrade or delete the database that `request` opens
 * (a newer version of the library): the connection, once open, closes when
 * asked, and the store over it then fails (the upload goes on in memory).
 * A handler of the module's would do nothing after a trap, and the
 * connection, which no destructor closes then, would block that tab until
 * this page went; so would one whose open was still under way at the trap.
 * @param {IDBOpenDBRequest} request
 */
export function closeWhenAsked(request) {
  // (A page's stand-in for IndexedDB may be no EventTarget: then nothing.)
  request.addEventListener?.("success", () => {
    const db = request.result;
    db.onversionchange = () => db.close();
  });
}

/** Closes the module on its first trap: every pending promise rejects,
 *  and what it holds is let go of. */
function trapped(error) {
  if (!closedByTrap) {
    closedByTrap = true;
    trap = error;
    letGo();
  }
  for (const stop of [...pending]) stop();
}

/**
 * The glue's own entries, which the page never calls (allocation, frees,
 * closures called by a timer or a request's event), by wasm-bindgen's
 * prefixes, which no export of ours uses. After a trap they do nothing.
 * scripts/build.mjs checks that no method of the API is among them.
 */
export const GLUE_INTERNAL = /^(__wbindgen_|__wasm_bindgen_|wasm_bindgen_)|^__wbg_\w+_free$/;

/**
 * The module's exports, each function wrapped so that a trap thrown out of
 * it closes the module, and no call enters a closed module (see the top of
 * this file). Other exports (the memory) are the same objects.
 * `promised` names the exports whose glue method returns a promise:
 * closed, they answer a rejected one, through `toHeap` (the glue's
 * `addHeapObject`, as the glue reads their result from its heap); `quiet`,
 * those whose method returns nothing: closed, they do nothing.
 * @param {WebAssembly.Exports} exports
 * @param {{ promised: string[], quiet: string[] }} api
 * @param {(value: unknown) => number} toHeap
 */
export function watch(exports, { promised, quiet }, toHeap) {
  const watched = {};
  for (const [name, value] of Object.entries(exports)) {
    if (typeof value !== "function") {
      watched[name] = value;
      continue;
    }
    const internal = GLUE_INTERNAL.test(name);
    const silent = internal || quiet.includes(name);
    const closed = promised.includes(name)
      ? () => toHeap(Promise.reject(internalError()))
      : () => {
          throw internalError();
        };
    watched[name] = (...args) => {
      if (closedByTrap) return silent ? undefined : closed();
      try {
        return value(...args);
      } catch (error) {
        if (misuses.has(error)) throw error;
        trapped(error);
        // A closure's trap stays an uncaught error of the page, as it was.
        if (internal) throw error;
        return silent ? undefined : closed();
      }
    };
  }
  return watched;
}

/**
 * `run`, or a rejection with INTERNAL_ERROR once the module traps. Every
 * promise of the API goes through here: a trap ends them all, as the
 * module is not usable after it.
 * @param {Promise<unknown>} run
 */
export function guard(run) {
  // The module may still be running after its trap: a trap inside a
  // callback of a JS call the module made can be caught by the glue's
  // error handling of that call, and the module's code around it goes on.
  // A promise it makes then must not wait for ever either.
  if (closedByTrap) return Promise.reject(internalError());
  return new Promise((resolve, reject) => {
    const stop = () => {
      pending.delete(stop);
      reject(internalError());
    };
    pending.add(stop);
    run.then(
      (value) => {
        pending.delete(stop);
        resolve(value);
      },
      (error) => {
        pending.delete(stop);
        reject(error);
      },
    );
  });
}
