// The resupload demo page: pick or drop files, watch them upload, pause,
// resume, cancel, and continue unfinished uploads after a reload: with one
// click where the browser kept the file's handle (Chromium's file picker
// and drops) or a staged copy ("Keep a copy…"), else by picking the file
// again. With a dev server started with --demo-auth it also shows who you
// are, with a demo sign-in (to continue an upload in another browser).
//
// Folders (issue 13) go through one UploadQueue: see folders.js.
//
// Options come from the address (for tests and experiments):
//   ?partSize=<bytes>&concurrency=<n>&namespace=<name>
//
// `window.resuploadDemo` mirrors what the page shows as plain data (one entry
// per file card, the unfinished uploads listed, and folders.js's `queue` and
// `pendingFolders`), so tests can read exact values; they drive the page
// through its real controls.

import { addFolder, folderBusy, foldersLoaded, refreshPendingFolders, setupFolders } from "./folders.js";
import { $, el, formatBytes, formatWhen, MIB } from "./format.js";

const ENDPOINT = "/api/s3";
// The demo identity routes (a dev server with --demo-auth; absent otherwise).
const DEMO_API = "/api/demo";
// The package's `resupload/queue` build: the demo uses both `Upload` and
// `UploadQueue` (a page with single uploads only would load /pkg/resupload.js).
const PKG_URL = "/pkg/queue/resupload.js";
// What the library uses when no part size is given, and S3's limits; only
// used to show a part count before the library reports one.
const DEFAULT_PART_SIZE = 8 * MIB;
const MAX_PARTS = 10_000;

// Statuses in which a card still owns its file's stored upload record.
const LIVE = new Set(["starting", "uploading", "pausing", "paused", "cancelling", "error"]);
// Whether a card still has an upload it can continue or cancel (not when
// `new Upload` itself refused the file or the options).
const isLive = (entry) => LIVE.has(entry.status) && !entry.fatal;
// Statuses in which a card has requests in flight.
const RUNNING = new Set(["starting", "uploading", "pausing", "cancelling"]);

// ---------------------------------------------------------------- options

const { options, optionProblems } = readOptions(new URLSearchParams(location.search));

function readOptions(params) {
  const problems = [];
  const result = { namespace: "demo" };
  const integer = (name, min, max) => {
    const raw = params.get(name);
    if (raw === null || raw === "") return undefined;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`?${name}=${raw} is not a whole number from ${min} to ${max}: ignored`);
      return undefined;
    }
    return value;
  };
  const partSize = integer("partSize", 1, Number.MAX_SAFE_INTEGER);
  if (partSize !== undefined) result.partSize = partSize;
  const concurrency = integer("concurrency", 1, 64);
  if (concurrency !== undefined) result.concurrency = concurrency;
  if (params.has("namespace")) result.namespace = params.get("namespace");
  return { options: result, optionProblems: problems };
}

// ------------------------------------------------------------------ state

const demo = {
  ready: false, // true once the wasm package is loaded and the pending list read
  booting: "starting", // the step the page is loading at, null once loaded (a test that waits too long names it)
  loadError: null, // why the uploader could not load, if it could not
  options: { endpoint: ENDPOINT, ...options },
  // The namespace uploads are kept under: the address's, plus the demo
  // identity's owner when the server has demo identities (see applyIdentity).
  namespace: options.namespace,
  identity: null, // { owner, user } from GET /api/demo/whoami, or null without demo auth
  features: {
    handles: typeof window.showOpenFilePicker === "function", // the picker gives file handles
    stage: typeof navigator.storage?.getDirectory === "function", // an origin-private file system
  },
  uploads: [], // one plain object per file card (see newEntry)
  pending: [], // unfinished uploads from Upload.listPending, as plain objects
  resumeProblems: {}, // pending id → { code, message } of a failed one-click resume
};
window.resuploadDemo = demo;

// Per card: the File, its handle (if any), the Upload, the DOM nodes (kept
// off the plain data).
const internals = new Map();
// Pending id → the entry as Upload.listPending gave it (for resumePending).
const listedEntries = new Map();
let Upload = null;
let nextId = 1;
let resolveReady;
const readyPromise = new Promise((resolve) => {
  resolveReady = resolve;
});

// ------------------------------------------------------------------- boot

bindPicker();
bindIdentity();
setupFolders({ demo, ready: readyPromise, showNotice, baseOptions: queueBaseOptions });
renderSettings();
boot();

async function boot() {
  for (const problem of optionProblems) showNotice(problem, "warning");
  try {
    demo.booting = "importing the package";
    const mod = await import(PKG_URL);
    demo.booting = "instantiating the module";
    await mod.default();
    Upload = mod.Upload;
    foldersLoaded(mod.UploadQueue);
  } catch (error) {
    demo.loadError = String(error?.message ?? error);
    showNotice(
      `The uploader could not load (${demo.loadError}). Build the wasm package into pkg/ ` +
        "(npm run build) and reload.",
      "error",
    );
    $("#settings").textContent = "The uploader is not available.";
    document.body.dataset.ready = "error";
    resolveReady(false);
    return;
  }
  demo.booting = "asking the server who is signed in";
  applyIdentity(await whoami());
  demo.booting = "listing the unfinished uploads";
  await Promise.all([refreshPending(), refreshPendingFolders()]);
  demo.booting = null;
  // Coming back to this tab: another tab may have finished or paused one.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refreshPending();
  });
  demo.ready = true;
  document.body.dataset.ready = "true";
  renderSettings();
  resolveReady(true);
}

function renderSettings() {
  const parts = [
    `part size ${options.partSize ? formatBytes(options.partSize) : "default"}`,
    `${options.concurrency ?? "default"} parallel`,
    `namespace “${demo.namespace}”`,
  ];
  $("#settings").textContent = (demo.ready ? "" : "Loading the uploader… ") + parts.join(" · ");
}

// --------------------------------------------------------- choosing files

function bindPicker() {
  const input = $("#file-input");
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = ""; // picking the same file again must fire `change` again
    handleFiles(files.map((file) => ({ file })));
  });
  // Where the browser has a file picker that gives handles, "Choose files"
  // uses it: a handle lets an upload continue after a restart in one click.
  $("#choose-button").addEventListener("click", (event) => {
    if (!canPickHandles()) return; // the label opens the file input
    event.preventDefault();
    chooseHandles();
  });
  $("#stage-option").hidden = !demo.features.stage;

  const zone = $("#drop-zone");
  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    dropped(event.dataTransfer).then(({ picks, folders }) => {
      handleFiles(picks);
      for (const { source, from } of folders) addFolder(source, from);
    });
  });
  // A file dropped next to the zone must not navigate away from the page.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => event.preventDefault());
  }
}

// A top frame only: Chromium refuses the picker in cross-origin frames.
function canPickHandles() {
  return typeof window.showOpenFilePicker === "function" && window.self === window.top;
}

async function chooseHandles() {
  let handles;
  try {
    handles = await window.showOpenFilePicker({ multiple: true });
  } catch (error) {
    if (error?.name === "AbortError") return; // the chooser was closed
    showNotice(`The file picker failed (${error?.message ?? error}): drop the files here instead.`, "warning");
    return;
  }
  const picks = await Promise.all(handles.map(pickOfHandle));
  handleFiles(picks.filter(Boolean));
}

async function pickOfHandle(handle) {
  try {
    return { file: await handle.getFile(), handle };
  } catch (error) {
    showNotice(`Could not read “${handle.name}”: ${error?.message ?? error}`, "error");
    return null;
  }
}

// The dropped files, each with its handle where the browser gives one
// (Chromium), and the dropped folders: as a directory handle where the
// browser gives one (Chromium: it resumes in one click), else as an entry.
// Handles and entries must be asked for during the drop event itself.
async function dropped(transfer) {
  const items = [...(transfer?.items ?? [])].filter((item) => item.kind === "file");
  const asked = items.map((item) => ({
    file: item.getAsFile(),
    entry: typeof item.webkitGetAsEntry === "function" ? item.webkitGetAsEntry() : null,
    handle: typeof item.getAsFileSystemHandle === "function" ? item.getAsFileSystemHandle().catch(() => null) : null,
  }));
  const picks = [];
  const folders = [];
  for (const { file, entry, handle } of asked) {
    const kept = await handle;
    if (kept?.kind === "directory") folders.push({ source: kept, from: "handle" });
    else if (entry?.isDirectory) folders.push({ source: entry, from: "entry" });
    else if (file) picks.push(kept?.kind === "file" ? { file, handle: kept } : { file });
  }
  return { picks, folders };
}

/**
 * Picks of more files than this go to the folder queue, as a folder does:
 * a card and an `Upload` each would start them all at once.
 */
const CARDS_AT_MOST = 8;

/** Starts an upload for each pick `{ file, handle? }` (many go to the queue). */
async function handleFiles(picks) {
  if (picks.length === 0) return;
  if (picks.length > CARDS_AT_MOST) return addFolder(picks.map(({ file }) => file), "input");
  if (!(await readyPromise)) {
    showNotice("The uploader is not available: nothing was uploaded.", "error");
    return;
  }
  const stage = demo.features.stage && $("#stage-input").checked ? "opfs" : "none";
  for (const pick of picks) addUpload(pick, stage);
}

function addUpload({ file, handle = null }, stage) {
  const fp = fingerprint(file.name, file.size, file.lastModified);
  const live = demo.uploads.find((entry) => entry.fingerprint === fp && isLive(entry));
  if (live) {
    flash(internals.get(live.id).card);
    return;
  }
  const match = demo.pending.find((p) => fingerprint(p.fileName, p.fileSize, p.lastModified) === fp);
  const entry = newEntry(file, match, { from: handle ? "handle" : "file", stage });
  if (!match) {
    const sameName = demo.pending.find((p) => p.fileName === file.name);
    if (sameName) {
      entry.note =
        `This is not the file of the unfinished upload “${sameName.fileName}” ` +
        "(its size or modification date differ): it is uploaded from the start.";
    }
  }
  showCard(entry, { file, handle });
  begin(entry);
}

function showCard(entry, { file = null, handle = null, upload = null }) {
  demo.uploads.push(entry);
  const card = buildCard(entry);
  internals.set(entry.id, { file, handle, upload, card, renderQueued: false });
  $("#upload-list").prepend(card);
  $("#uploads-section").hidden = false;
  renderCard(entry);
  renderPending();
}

function fingerprint(name, size, lastModified) {
  return JSON.stringify([name, Number(size), Number(lastModified)]);
}

// `file`: a File or `{ name, size, lastModified }`; `from`: what the upload
// reads ("file", "handle", or the pending entry's "handle" / "copy").
function newEntry(file, pendingMatch, { from, stage = "none" }) {
  const partSize = pendingMatch?.partSize ?? planPartSize(file.size, options.partSize ?? DEFAULT_PART_SIZE);
  return {
    id: nextId++,
    fingerprint: fingerprint(file.name, file.size, file.lastModified),
    fileName: file.name,
    fileSize: file.size,
    lastModified: file.lastModified,
    namespace: demo.namespace,
    from,
    stage, // "opfs" when a copy is staged for a resume after a restart
    status: "starting",
    sentBytes: 0,
    confirmedBytes: 0,
    totalBytes: file.size,
    partSize,
    partsTotal: pendingMatch?.partsTotal ?? Math.max(1, Math.ceil(file.size / partSize)),
    partsDone: 0,
    completedParts: [], // part numbers reported by onPartComplete (this session)
    skippedParts: 0, // parts the server had already (from onResume)
    resumed: null, // { uploadId, skippedParts, skippedBytes } once resumed
    matchedPending: Boolean(pendingMatch),
    starts: 0, // how many times start() was called
    result: null, // { key, uploadId, location, checksumSha256 } when done
    restarts: [], // onRestart reasons ("expired", "file-changed")
    warnings: [], // onWarning codes
    error: null, // { code, message } after a failure
    fatal: false, // true when `new Upload` refused: nothing to retry or cancel
    note: null,
  };
}

// Mirrors the library's plan: the part size grows (to whole MiB) when the
// file would need more than 10,000 parts.
function planPartSize(size, wanted) {
  const smallest = Math.ceil(size / MAX_PARTS);
  return smallest > wanted ? Math.ceil(smallest / MIB) * MIB : wanted;
}

// --------------------------------------------------------------- uploading

function begin(entry) {
  const inner = internals.get(entry.id);
  try {
    // A handle is kept beside the upload's record: after a restart the
    // upload continues from it without the file being picked again.
    inner.upload = new Upload(inner.handle ?? inner.file, uploadOptions(entry));
  } catch (error) {
    entry.fatal = true;
    fail(entry, error);
    return;
  }
  run(entry);
}

// What every folder queue gets (its callbacks are folders.js's).
function queueBaseOptions() {
  return {
    endpoint: ENDPOINT,
    ...(options.partSize !== undefined && { partSize: options.partSize }),
    ...(options.concurrency !== undefined && { concurrency: options.concurrency }),
    namespace: demo.namespace,
    metadata: { source: "resupload-demo" },
  };
}

function uploadOptions(entry) {
  return {
    endpoint: ENDPOINT,
    ...(options.partSize !== undefined && { partSize: options.partSize }),
    ...(options.concurrency !== undefined && { concurrency: options.concurrency }),
    namespace: entry.namespace,
    metadata: { source: "resupload-demo" },
    stage: entry.stage,
    onProgress: guarded((p) => onProgress(entry, p)),
    onPartComplete: guarded((p) => onPartComplete(entry, p)),
    onResume: guarded((p) => onResume(entry, p)),
    onRestart: guarded((r) => {
      entry.restarts.push(r.reason);
      noteOn(entry, RESTART_TEXT[r.reason] ?? `restarted: ${r.reason}`);
    }),
    onWarning: guarded((w) => {
      entry.warnings.push(w.code);
      noteOn(entry, `warning ${w.code}: ${w.message}`);
    }),
    onExpiringSoon: guarded((e) =>
      noteOn(entry, `the server expires this upload at ${new Date(e.expiresAt).toLocaleString()}: finish it before then`),
    ),
  };
}

// A throw from a UI callback must never reach the library.
function guarded(fn) {
  return (arg) => {
    try {
      fn(arg);
    } catch (error) {
      console.error("resupload demo: a progress callback failed", error);
    }
  };
}

async function run(entry) {
  const { upload } = internals.get(entry.id);
  entry.error = null;
  entry.starts += 1;
  setStatus(entry, "uploading");
  let result;
  try {
    result = await upload.start();
  } catch (error) {
    const code = error?.code;
    if (entry.status === "cancelling" || entry.status === "cancelled") return; // cancel() reports
    if (code === "PAUSED") {
      setStatus(entry, "paused");
    } else if (code === "ABORTED") {
      forgetPending(entry);
      setStatus(entry, "cancelled");
      refreshPending();
    } else {
      fail(entry, error);
    }
    return;
  }
  entry.result = {
    key: result?.key,
    uploadId: result?.uploadId,
    location: result?.location,
    checksumSha256: result?.checksumSha256 ?? null,
  };
  entry.partsDone = entry.partsTotal;
  entry.sentBytes = entry.confirmedBytes = entry.totalBytes;
  forgetPending(entry);
  setStatus(entry, "done");
  refreshPending();
}

/** Drops the listed unfinished upload of `entry`'s file, whose record the
 *  library removed as the upload ended (done or cancelled): without this,
 *  the card's end would list it again until `refreshPending` answers. */
function forgetPending(entry) {
  demo.pending = demo.pending.filter((p) => fingerprint(p.fileName, p.fileSize, p.lastModified) !== entry.fingerprint);
}

function fail(entry, error) {
  entry.error = {
    code: String(error?.code ?? "UNKNOWN"),
    message: String(error?.message ?? error),
  };
  console.warn(`resupload demo: ${entry.fileName}: ${entry.error.code}: ${entry.error.message}`);
  setStatus(entry, "error");
}

function pause(entry) {
  if (entry.status !== "uploading" && entry.status !== "starting") return;
  setStatus(entry, "pausing");
  // start() then rejects with code PAUSED, once the requests have stopped.
  internals.get(entry.id).upload.pause();
}

function resume(entry) {
  if ((entry.status !== "paused" && entry.status !== "error") || entry.fatal) return;
  run(entry);
}

async function cancel(entry) {
  if (!isLive(entry) || entry.status === "cancelling") return;
  setStatus(entry, "cancelling");
  try {
    await internals.get(entry.id).upload.abort();
  } catch (error) {
    if (error?.code === "ALREADY_COMPLETED") {
      // Stored before the cancel came: the card says so. Unless its run
      // heard it already, start() answers the stored object, sending nothing.
      if (entry.status !== "done") run(entry);
      return;
    }
    entry.error = {
      code: String(error?.code ?? "UNKNOWN"),
      message: `cancelling failed: ${error?.message ?? error}`,
    };
    // The requests stopped either way; Cancel can be tried again.
    setStatus(entry, "error");
    return;
  }
  forgetPending(entry);
  setStatus(entry, "cancelled");
  refreshPending();
}

function onProgress(entry, p) {
  const sent = Number(p.sentBytes);
  const confirmed = Number(p.confirmedBytes);
  if (Number.isFinite(sent)) entry.sentBytes = sent;
  if (Number.isFinite(confirmed)) entry.confirmedBytes = confirmed;
  if (Number.isFinite(Number(p.totalBytes))) entry.totalBytes = Number(p.totalBytes);
  scheduleRender(entry);
}

function onPartComplete(entry, p) {
  const number = Number(p.partNumber);
  if (!entry.completedParts.includes(number)) entry.completedParts.push(number);
  updatePartsDone(entry);
  scheduleRender(entry);
}

const RESTART_TEXT = {
  expired: "the server no longer had the earlier upload (expired or aborted): started afresh",
  "file-changed": "the file changed since its earlier upload (its date, or bytes the server holds): started afresh",
};

function noteOn(entry, text) {
  entry.note = text;
  renderCard(entry);
}

function onResume(entry, p) {
  entry.resumed = {
    uploadId: p.uploadId,
    skippedParts: Number(p.skippedParts),
    skippedBytes: Number(p.skippedBytes),
  };
  // The skipped parts include any finished earlier in this session.
  entry.skippedParts = entry.resumed.skippedParts;
  entry.completedParts = [];
  updatePartsDone(entry);
  renderCard(entry);
  renderPending();
  refineFromRecord(entry);
}

function updatePartsDone(entry) {
  entry.partsDone = Math.min(entry.partsTotal, entry.skippedParts + entry.completedParts.length);
}

// A resumed upload keeps the part size it began with: take the part count
// from its stored record (one resumed from the list has it already).
async function refineFromRecord(entry) {
  const { file } = internals.get(entry.id);
  if (!file) return;
  try {
    const record = await Upload.findPrevious(file, {
      endpoint: ENDPOINT,
      namespace: entry.namespace,
    });
    if (record && Number(record.partsTotal) > 0) {
      entry.partsTotal = Number(record.partsTotal);
      entry.partSize = Number(record.partSize);
      updatePartsDone(entry);
      scheduleRender(entry);
    }
  } catch (error) {
    console.warn("resupload demo: could not read the stored upload record", error);
  }
}

// ------------------------------------------------------ unfinished uploads

async function refreshPending() {
  if (!Upload) return;
  try {
    const list = [...((await Upload.listPending({ namespace: demo.namespace })) ?? [])];
    listedEntries.clear();
    for (const p of list) listedEntries.set(p.id, p);
    demo.pending = list.map((p) => ({
      id: p.id,
      endpoint: p.endpoint,
      namespace: p.namespace,
      uploadId: p.uploadId,
      key: p.key,
      fileName: p.fileName,
      fileSize: Number(p.fileSize),
      lastModified: Number(p.lastModified),
      fileType: p.fileType,
      partSize: Number(p.partSize),
      createdAt: Number(p.createdAt),
      partsDone: Number(p.partsDone),
      partsTotal: Number(p.partsTotal),
      bytesDone: Number(p.bytesDone),
      canResumeWithoutPicking: Boolean(p.canResumeWithoutPicking),
      resumeFrom: p.resumeFrom ?? null,
      running: Boolean(p.running),
    }));
  } catch (error) {
    console.error("resupload demo: could not list the unfinished uploads", error);
    showNotice(`Could not read the unfinished uploads: ${error?.message ?? error}`, "warning");
  }
  renderPending();
}

function renderPending() {
  // A file with a live card is not listed: its card shows it.
  const owned = new Set(demo.uploads.filter(isLive).map((e) => e.fingerprint));
  const shown = demo.pending.filter((p) => !owned.has(fingerprint(p.fileName, p.fileSize, p.lastModified)));
  $("#pending-list").replaceChildren(...shown.map(pendingItem));
  $("#pending-section").hidden = shown.length === 0;
}

function pendingItem(p) {
  const problem = demo.resumeProblems[p.id];
  const oneClick = p.canResumeWithoutPicking && !problem;
  const li = el("li", { class: "pending-item", "data-file-name": p.fileName, "data-resume-from": oneClick ? p.resumeFrom : "pick" });
  const info = el("div", { class: "pending-info" });
  info.append(
    el("span", { class: "file-name" }, p.fileName),
    el("span", { class: "file-size" }, formatBytes(p.fileSize)),
  );
  const percent = p.fileSize > 0 ? Math.floor((100 * p.bytesDone) / p.fileSize) : 0;
  const progress = el(
    "p",
    { class: "pending-progress" },
    `${p.partsDone} of ${p.partsTotal} parts uploaded · ${formatBytes(p.bytesDone)} of ` +
      `${formatBytes(p.fileSize)} (${percent}%)` +
      (p.createdAt > 0 ? ` · started ${formatWhen(p.createdAt)}` : ""),
  );
  li.append(info, progressBar(percent, percent), progress);
  // A live card of this page is not listed: a running one is another tab's.
  if (p.running) {
    li.dataset.running = "true";
    li.append(el("p", { class: "pending-running" }, "Uploading in another tab now: it goes on there."));
    return li;
  }
  if (problem) li.append(el("p", { class: "pending-problem", role: "alert" }, problemText(problem)));
  li.append(oneClick ? resumeButton(p) : pickButton());
  return li;
}

function pickButton() {
  const pick = el("button", { type: "button", class: "button", "data-action": "pick" }, "Pick this file…");
  pick.addEventListener("click", () => (canPickHandles() ? chooseHandles() : $("#file-input").click()));
  return pick;
}

function resumeButton(p) {
  const label = p.resumeFrom === "copy" ? "Resume from the kept copy" : "Resume";
  const button = el("button", { type: "button", class: "button primary", "data-action": "resume" }, label);
  button.addEventListener("click", () => {
    button.disabled = true;
    resumeListed(p);
  });
  return button;
}

// Runs inside the click: the browser asks for read permission only during
// one, so `resumePending` is called before anything is awaited.
async function resumeListed(p) {
  const entry = newEntry({ name: p.fileName, size: p.fileSize, lastModified: p.lastModified }, p, { from: p.resumeFrom });
  let upload;
  try {
    upload = await Upload.resumePending(listedEntries.get(p.id), uploadOptions(entry));
  } catch (error) {
    demo.resumeProblems[p.id] = { code: String(error?.code ?? "UNKNOWN"), message: String(error?.message ?? error) };
    console.warn(`resupload demo: ${p.fileName}: resuming failed: ${error?.code}: ${error?.message ?? error}`);
    renderPending();
    return;
  }
  showCard(entry, { upload });
  run(entry);
}

const PROBLEM_TEXT = {
  PERMISSION_DENIED: "Reading the file was not allowed. Pick it to continue.",
  FILE_MISSING: "The file is no longer where it was (moved, renamed or deleted). Pick it to continue.",
  FILE_CHANGED: "The file changed since this upload began. Pick it to upload it from the start.",
  NO_HANDLE: "This browser no longer has the file or a copy of it. Pick the file to continue.",
};

function problemText({ code, message }) {
  return `${PROBLEM_TEXT[code] ?? `Resuming failed: ${message}. Pick the file to continue.`} (${code})`;
}

// ---------------------------------------------------------------- identity

// The dev server's demo identity ({ owner, user }), or null when it has no
// demo identities (no --demo-auth: the route is missing).
async function whoami() {
  try {
    const response = await demoCall("whoami", { cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch (error) {
    if (error?.name === "TimeoutError") showNotice(`${error.message} The page goes on without a demo identity.`, "warning");
    return null;
  }
}

/** How long a demo identity call may take, its answer's body included. */
const DEMO_CALL_MS = 10_000;

/**
 * `fetch` of a demo identity route, given up after DEMO_CALL_MS (the body
 * too, which the signal also ends) with a TimeoutError that says so: a
 * server that never answers must not leave the page loading for ever.
 */
async function demoCall(route, init) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), DEMO_CALL_MS);
  try {
    const response = await fetch(`${DEMO_API}/${route}`, { ...init, signal: controller.signal });
    // Read the body under the same limit, then let the timer go.
    const body = await response.text();
    return { ok: response.ok, status: response.status, json: async () => JSON.parse(body) };
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    throw Object.assign(new Error(`The server did not answer ${DEMO_API}/${route} within ${DEMO_CALL_MS / 1000} s.`), { name: "TimeoutError" });
  } finally {
    clearTimeout(timer);
  }
}

// With demo identities the server owns each upload by the caller's
// identity (it ignores the namespace sent) and refuses another identity's
// uploads. So the page keeps each identity's uploads under a namespace of
// its own, and lists only those the server lets it continue.
function applyIdentity(identity) {
  demo.identity = identity?.owner ? { owner: String(identity.owner), user: identity.user ?? null } : null;
  demo.namespace = demo.identity ? `${options.namespace}/${demo.identity.owner}` : options.namespace;
  renderIdentity();
  renderSettings();
}

function bindIdentity() {
  $("#sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    switchIdentity("sign-in", { user: $("#user-input").value });
  });
  $("#sign-out-button").addEventListener("click", () => switchIdentity("sign-out"));
}

async function switchIdentity(route, body) {
  if (demo.uploads.some((e) => RUNNING.has(e.status)) || folderBusy()) {
    identityProblem(
      "Pause the running uploads first (a folder: cancel it), or let them finish: they belong to the current identity.",
    );
    return;
  }
  setIdentityBusy(true);
  try {
    applyIdentity(await postIdentity(route, body));
    identityProblem(null);
    await Promise.all([refreshPending(), refreshPendingFolders()]);
  } catch (error) {
    identityProblem(String(error?.message ?? error));
  } finally {
    setIdentityBusy(false);
  }
}

function setIdentityBusy(busy) {
  for (const button of document.querySelectorAll("#identity button")) button.disabled = busy;
}

async function postIdentity(route, body) {
  const response = await demoCall(route, {
    method: "POST",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new Error(answer?.error?.message ?? `the server answered ${response.status}`);
  return answer;
}

function identityProblem(text) {
  const line = $("#identity-problem");
  line.hidden = !text;
  line.textContent = text ?? "";
}

function renderIdentity() {
  $("#identity").hidden = !demo.identity;
  if (!demo.identity) return;
  const { user } = demo.identity;
  $("#identity-text").textContent = user
    ? `Signed in as “${user}” (a demo sign-in: anyone may use any name).`
    : "Anonymous: the uploads you start belong to this browser. Sign in (the same name in each browser) to continue an upload in another browser.";
  $("#sign-in-form").hidden = Boolean(user);
  $("#sign-out-button").hidden = !user;
}

// -------------------------------------------------------------- rendering

function buildCard(entry) {
  const card = el("li", { class: "upload-card", "data-id": String(entry.id), "data-file-name": entry.fileName });
  const head = el("div", { class: "card-head" });
  head.append(
    el("span", { class: "file-name", title: entry.fileName }, entry.fileName),
    el("span", { class: "file-size" }, formatBytes(entry.fileSize)),
  );
  const stats = el("div", { class: "card-stats" });
  stats.append(
    el("span", { class: "bytes" }),
    el("span", { class: "percent" }),
    el("span", { class: "parts" }),
  );
  const actions = el("div", { class: "actions" });
  const buttons = [
    ["pause", "Pause", pause],
    ["resume", "Resume", resume],
    ["cancel", "Cancel", cancel],
  ].map(([action, label, handler]) => {
    const button = el("button", { type: "button", class: "button", "data-action": action }, label);
    button.addEventListener("click", () => handler(entry));
    return button;
  });
  actions.append(...buttons);
  card.append(
    head,
    progressBar(0, 0),
    stats,
    el("p", { class: "status", role: "status" }),
    el("p", { class: "resumed", hidden: "" }),
    el("p", { class: "note", hidden: "" }),
    actions,
  );
  return card;
}

function progressBar(confirmedPercent, sentPercent) {
  const bar = el("div", {
    class: "progress",
    role: "progressbar",
    "aria-valuemin": "0",
    "aria-valuemax": "100",
  });
  bar.append(el("div", { class: "progress-sent" }), el("div", { class: "progress-confirmed" }));
  setBar(bar, confirmedPercent, sentPercent);
  return bar;
}

function setBar(bar, confirmedPercent, sentPercent) {
  bar.setAttribute("aria-valuenow", String(Math.floor(sentPercent)));
  $(".progress-sent", bar).style.width = `${sentPercent}%`;
  $(".progress-confirmed", bar).style.width = `${confirmedPercent}%`;
}

function setStatus(entry, status) {
  entry.status = status;
  renderCard(entry);
  renderPending();
}

function scheduleRender(entry) {
  const inner = internals.get(entry.id);
  if (inner.renderQueued) return;
  inner.renderQueued = true;
  // Coalesce the many progress events into one paint; a hidden page gets no
  // animation frames, so a timer backs it up.
  const flush = () => {
    if (!inner.renderQueued) return;
    inner.renderQueued = false;
    renderCard(entry);
  };
  requestAnimationFrame(flush);
  setTimeout(flush, 100);
}

const STATUS_TEXT = {
  starting: "starting…",
  uploading: "uploading…",
  pausing: "pausing…",
  paused: "paused",
  cancelling: "cancelling…",
  cancelled: "cancelled",
};

function renderCard(entry) {
  const { card } = internals.get(entry.id);
  card.dataset.status = entry.status;
  const total = entry.totalBytes;
  const done = entry.status === "done";
  const confirmed = done ? total : Math.min(entry.confirmedBytes, total);
  // While requests run, bytes sent count; once stopped, only what the store
  // confirmed (bytes of cancelled requests are sent again on resume).
  const running = ["starting", "uploading", "pausing"].includes(entry.status);
  const sent = done ? total : running ? Math.min(Math.max(entry.sentBytes, confirmed), total) : confirmed;
  const percent = total > 0 ? (100 * sent) / total : done ? 100 : 0;
  setBar($(".progress", card), total > 0 ? (100 * confirmed) / total : done ? 100 : 0, percent);
  $(".bytes", card).textContent = `${formatBytes(sent)} / ${formatBytes(total)}`;
  $(".percent", card).textContent = `${Math.floor(percent)}%`;
  $(".parts", card).textContent = `parts ${entry.partsDone}/${entry.partsTotal}`;

  const status = $(".status", card);
  status.className = `status status-${entry.status}`;
  if (entry.status === "done") {
    status.replaceChildren("done: stored as ", el("code", { class: "object-key" }, entry.result?.key ?? "?"));
    if (entry.result?.checksumSha256) {
      status.append(
        ", SHA-256 checked end to end ",
        el("code", { class: "object-checksum", title: "the object's composite checksum, as the store computed it" }, entry.result.checksumSha256),
      );
    }
  } else if (entry.status === "error") {
    status.textContent = `error ${entry.error?.code}: ${entry.error?.message}`;
  } else {
    status.textContent = STATUS_TEXT[entry.status] ?? entry.status;
  }

  const resumed = $(".resumed", card);
  resumed.hidden = !entry.resumed;
  if (entry.resumed) {
    resumed.textContent =
      `resumed: ${entry.resumed.skippedParts} parts skipped ` +
      `(${formatBytes(entry.resumed.skippedBytes)} already on the server)`;
  }
  const note = $(".note", card);
  note.hidden = !entry.note;
  note.textContent = entry.note ?? "";

  const show = (action, visible, enabled = true) => {
    const button = $(`[data-action="${action}"]`, card);
    button.hidden = !visible;
    button.disabled = !enabled;
  };
  const s = entry.status;
  show("pause", s === "starting" || s === "uploading" || s === "pausing", s !== "pausing");
  show("resume", (s === "paused" || s === "error") && !entry.fatal);
  $(`[data-action="resume"]`, card).textContent = s === "error" ? "Retry" : "Resume";
  show("cancel", isLive(entry), s !== "cancelling");
}

function flash(node) {
  node.classList.remove("flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("flash");
  node.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function showNotice(message, kind) {
  const notice = $("#notice");
  const line = el("p", { class: `notice-${kind}` }, message);
  notice.append(line);
  notice.hidden = false;
}
