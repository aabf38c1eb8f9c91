// A timeline of the browser calls a page makes (`--resume-trace`): which
// of IndexedDB, the lock manager, fetch, XMLHttpRequest, Blob.slice and the
// hash worker a resume waits on, in ms from its start(). It found that a
// run's housekeeping decoded every record only for their ids
// (BENCHMARKS.md, resume latency). Its milestones (the part list asked
// for, the first part's URL asked for) split a resume's time into phases,
// steadier on busy cores than the whole.
//
// The wrappers are installed once per page and only record: a few
// microseconds per call.

/** Installs the wrappers in the page (once); `window.__trace` collects. */
export function installTrace() {
  if (window.__trace) return;
  const trace = (window.__trace = []);
  const mark = (what) => trace.push([performance.now(), what]);
  const describe = (first) => {
    if (typeof first === "string") return first.slice(0, 70);
    if (Array.isArray(first)) return first.join(",");
    return "";
  };
  const wrap = (proto, method, label) => {
    const original = proto[method];
    proto[method] = function (...args) {
      mark(`${label}(${describe(args[0])})`);
      const result = original.apply(this, args);
      if (result && typeof result.then === "function") {
        result.then(() => mark(`${label} resolved`), () => mark(`${label} rejected`));
      }
      if (result instanceof IDBRequest) result.addEventListener("success", () => mark(`${label} success`));
      return result;
    };
  };
  wrap(window, "fetch", "fetch");
  wrap(IDBFactory.prototype, "open", "indexedDB.open");
  wrap(IDBDatabase.prototype, "transaction", "transaction");
  for (const m of ["get", "getAll", "getAllKeys", "put", "delete"]) wrap(IDBObjectStore.prototype, m, `store.${m}`);
  if (typeof LockManager !== "undefined") wrap(LockManager.prototype, "request", "locks.request");
  wrap(Blob.prototype, "slice", "Blob.slice");
  wrap(XMLHttpRequest.prototype, "open", "xhr.open");
  wrap(XMLHttpRequest.prototype, "send", "xhr.send");
  wrap(Worker.prototype, "postMessage", "worker.postMessage");
  // The hash worker's answers: ready, and each part's digest.
  window.Worker = class extends Worker {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", ({ data }) => {
        if (!data?.progress) mark(`worker answered(${Object.keys(data ?? {}).join(",")})`);
      });
    }
  };
}

/**
 * When a resume asked for the part list and for its first part's URL, in
 * ms from `window.benchStart` (Companion's routes: `GET
 * …/multipart/<uploadId>?key=` and `…/multipart/<uploadId>/<n>?key=`);
 * `null` for one it did not ask.
 */
export function traceMilestones() {
  const t0 = window.benchStart;
  const at = (pattern) => {
    const hit = window.__trace.find(([t, what]) => t >= t0 && pattern.test(what));
    return hit ? hit[0] - t0 : null;
  };
  return {
    list: at(/^fetch\(.*\/multipart\/[^/?]+\?key=/),
    sign: at(/^fetch\(.*\/multipart\/[^/?]+\/\d+\?key=/),
  };
}

/**
 * The calls recorded from `window.benchStart` to `window.benchFirstPut`
 * (performance.now() of the resume's start() and of its first part
 * request), one per line, in ms from the start.
 */
export function takeTrace() {
  const { benchStart: t0, benchFirstPut: end } = window;
  const lines = window.__trace
    .filter(([t]) => t >= t0 && t <= end)
    .map(([t, what]) => `${(t - t0).toFixed(1).padStart(7)} ms  ${what}`);
  return lines.join("\n");
}
