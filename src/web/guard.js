// A run ends even when the WebAssembly module traps.
//
// A trap (an engine bug, as WPE 2.38's externref table, or a Rust panic,
// which aborts) unwinds the task that was running, and that task's promise
// never settles: the caller would wait forever. While a run is pending, a
// WebAssembly.RuntimeError reported to the page (an uncaught `error`, or an
// unhandled rejection) rejects it with a ResuploadError INTERNAL_ERROR. The
// error is made here, in JS: after a trap the module may not be usable.
// Only this module's traps count: a page may run other modules (an image
// resizer, a video transcoder), and a trap of theirs is theirs. The glue
// calls this module through `watch(instance.exports)` (scripts/build.mjs
// puts it there), which marks every RuntimeError thrown out of a call.
// Importing this module touches no browser global.

const pending = new Set();
const ours = new WeakSet();
let listening = false;

function onError(event) {
  const error = event.error ?? event.reason;
  if (!(error instanceof WebAssembly.RuntimeError) || !ours.has(error)) return;
  for (const stop of [...pending]) stop(error);
}

/**
 * The module's exports, each function wrapped so that a RuntimeError thrown
 * out of it (a trap of the module, or one that unwound through it) is known
 * as this module's. Other exports (the memory) are the same objects.
 * @param {WebAssembly.Exports} exports
 */
export function watch(exports) {
  const watched = {};
  for (const [name, value] of Object.entries(exports)) {
    watched[name] =
      typeof value !== "function"
        ? value
        : (...args) => {
            try {
              return value(...args);
            } catch (error) {
              if (error instanceof WebAssembly.RuntimeError) ours.add(error);
              throw error;
            }
          };
  }
  return watched;
}

function internalError(cause) {
  const error = new Error(
    `resupload stopped on an internal error (${cause.message}); reload the page and ` +
      "start the upload again: it resumes from its stored state",
    { cause },
  );
  error.name = "ResuploadError";
  error.code = "INTERNAL_ERROR";
  return error;
}

/**
 * `run`, or a rejection with INTERNAL_ERROR if the module traps first; then
 * `onTrap()`, if given, is asked (best effort) to drop the run. Every
 * promise of the API goes through here: a trap ends them all, as the
 * module may not be usable after it.
 * @param {Promise<unknown>} run
 * @param {(() => void) | undefined} onTrap
 */
export function guard(run, onTrap) {
  if (!listening && typeof addEventListener === "function") {
    addEventListener("error", onError);
    addEventListener("unhandledrejection", onError);
    listening = true;
  }
  return new Promise((resolve, reject) => {
    const stop = (cause) => {
      pending.delete(stop);
      reject(internalError(cause));
      try {
        onTrap?.();
      } catch {
        // The module is broken: nothing more to do.
      }
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
