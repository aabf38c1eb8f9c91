// The demo page's folder upload (issue 13): choose or drop a folder and
// watch one UploadQueue send its files: totals, speed, time left, and a list
// that stays fast at 10,000 files (only the rows in view exist, redrawn at
// most once a frame). Failed files are listed with their error, and "Retry"
// sends them again. A folder left half done by a reload is listed under
// "Unfinished folders": "Resume" continues it in one click where the folder
// came as a handle (showDirectoryPicker, a folder dropped in Chromium);
// otherwise choosing the same folder again continues it (the queue skips
// the files stored before).
//
// `window.resuploadDemo.queue` mirrors the folder panel as plain data and
// `window.resuploadDemo.pendingFolders` the unfinished folders; tests read
// them and drive the page through its controls.

import { $, el, formatBytes, formatDuration, formatWhen } from "./format.js";

const ROW_HEIGHT = 28; // px: .queue-row's height in style.css
const OVERSCAN = 4; // rows drawn beyond those in view, on each side
const FAILURES_SHOWN = 100; // failed files listed with their error (all are counted)

// Statuses in which the panel's queue still has work; a new folder joins
// it unless it is being cancelled.
const LIVE = new Set(["adding", "uploading", "pausing", "paused", "cancelling"]);
const joinable = () => folderBusy() && current.plain.status !== "cancelling";

let UploadQueue = null;
let env = null; // { demo, ready, showNotice, baseOptions } from setupFolders
let current = null; // the panel's run (see newRun)
const listed = new Map(); // pending id → the entry as UploadQueue.listPending gave it

/**
 * Binds the folder controls. `ready` resolves to whether the uploader
 * loaded; `baseOptions()` gives the options every queue gets (endpoint,
 * namespace, …); `showNotice(text, kind)` shows a page notice.
 */
export function setupFolders({ demo, ready, showNotice, baseOptions }) {
  env = { demo, ready, showNotice, baseOptions };
  demo.queue = null;
  demo.pendingFolders = [];
  demo.folderProblems = {}; // pending id → { code, message } of a failed Resume
  bindControls();
}

/** Called once the wasm package is loaded. */
export function foldersLoaded(queueClass) {
  UploadQueue = queueClass;
}

/** Whether a folder is being read or sent (or is paused). */
export function folderBusy() {
  return Boolean(current && LIVE.has(current.plain.status));
}

// ---------------------------------------------------------------- choosing

function bindControls() {
  $("#choose-folder-button").addEventListener("click", chooseFolder);
  const input = $("#folder-input");
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = ""; // choosing the same folder again must fire `change` again
    if (files.length > 0) addFolder(files, "input");
  });
  const panel = $("#queue-section");
  const actions = { "pause-queue": pause, "resume-queue": resume, "cancel-queue": cancel, "retry-failed": retry };
  for (const [action, handler] of Object.entries(actions)) {
    $(`[data-action="${action}"]`, panel).addEventListener("click", () => current && handler(current));
  }
  $("#queue-list").addEventListener("scroll", schedule, { passive: true });
}

// A top frame only: Chromium refuses the picker in cross-origin frames.
function canPickFolders() {
  return typeof window.showDirectoryPicker === "function" && window.self === window.top;
}

/** "Choose a folder…": the folder picker where there is one (a handle resumes in one click), else the folder input. */
async function chooseFolder() {
  if (!canPickFolders()) {
    $("#folder-input").click();
    return;
  }
  let handle;
  try {
    handle = await window.showDirectoryPicker();
  } catch (error) {
    if (error?.name === "AbortError") return; // the chooser was closed
    env.showNotice(`The folder picker failed (${error?.message ?? error}): drop the folder here instead.`, "warning");
    return;
  }
  addFolder(handle, "handle");
}

/**
 * Adds a folder (a FileSystemDirectoryHandle, a dropped folder's entry, or
 * the Files of a folder input) to the running queue, or to a new one that
 * then starts. `from` says which ("handle", "entry", "input").
 */
export async function addFolder(source, from) {
  if (!(await env.ready)) {
    env.showNotice("The uploader is not available: nothing was uploaded.", "error");
    return;
  }
  if (!joinable() && !show(newRun(nameOf(source), from))) return;
  const run = current;
  run.adding += 1;
  schedule();
  let problem = null;
  let added = 0;
  try {
    added = await run.queue.add(source);
  } catch (error) {
    problem = plainError(error);
    env.showNotice(`Could not read the folder: ${problem.message}`, "error");
  }
  run.adding -= 1;
  refreshFiles(run);
  if (run.plain.status !== "adding") {
    // It joined a running (or paused) queue: the run sends the files added
    // while it runs. One that ended while the folder was read sends the
    // rest now (with a failed run's files: the folder was dropped to go).
    if (added > 0 && run.plain.status === "done") begin(run);
    else if (added > 0 && run.plain.status === "failed") retry(run);
    return;
  }
  if (problem && run.files.length === 0) return queueFailed(run, problem);
  begin(run);
}

function nameOf(source) {
  if (typeof source?.name === "string") return source.name; // a handle or an entry
  const path = source[0]?.webkitRelativePath ?? "";
  return path.includes("/") ? path.split("/")[0] : `${source.length} files`;
}

// ---------------------------------------------------------------- the run

// One queue as the panel shows it: `plain` is what tests read.
function newRun(name, from) {
  return {
    plain: {
      status: "adding",
      name,
      from, // "handle", "entry", "input" or "resume"
      files: 0, // files in the queue
      progress: null, // the last onProgress
      ended: [], // each onFile, in order, as plain data (see plainFile)
      failed: [], // the files failed in the last run, with their error
      warnings: [], // distinct onWarning codes
      listedRows: 0, // rows of the file list in the DOM
      error: null, // { code, message } when the queue itself failed
      result: null, // counts of the last start() that resolved
    },
    queue: null,
    pendingId: null, // the unfinished folder it resumes, if any
    files: [], // the queue's File objects, by index
    bytes: 0, // their sizes added up
    ends: new Map(), // index → plainFile of its latest end
    adding: 0, // adds in progress
    failuresDirty: true,
  };
}

/** Makes `run` the panel's, with a new queue unless it has one; false if the queue could not be made. */
function show(run) {
  current = run;
  env.demo.queue = run.plain;
  $("#queue-section").hidden = false;
  $("#queue-list").scrollTop = 0;
  if (!run.queue) {
    try {
      run.queue = new UploadQueue(queueOptions(run));
    } catch (error) {
      queueFailed(run, plainError(error));
      return false;
    }
  }
  schedule();
  return true;
}

function queueOptions(run) {
  return {
    ...env.baseOptions(),
    onProgress: guarded((p) => {
      run.plain.progress = p;
      schedule();
    }),
    onFile: guarded((f) => onFile(run, f)),
    onWarning: guarded((w) => {
      if (!run.plain.warnings.includes(w.code)) run.plain.warnings.push(w.code);
      schedule();
    }),
  };
}

// A throw from a UI callback must never reach the library.
function guarded(fn) {
  return (arg) => {
    try {
      fn(arg);
    } catch (error) {
      console.error("resupload demo: a queue callback failed", error);
    }
  };
}

function refreshFiles(run) {
  run.files = run.queue ? run.queue.files : [];
  run.bytes = run.files.reduce((sum, f) => sum + f.size, 0);
  run.plain.files = run.files.length;
  schedule();
}

function onFile(run, f) {
  const report = plainFile(f);
  run.ends.set(report.index, report);
  run.plain.ended.push(report);
  if (report.status === "failed") {
    run.plain.failed.push(report);
    run.failuresDirty = true;
  }
  schedule();
}

function plainFile(f) {
  const status = f.error ? "failed" : f.cancelled ? "cancelled" : f.skipped ? "skipped" : "done";
  return {
    index: f.index,
    name: f.name,
    relativePath: f.relativePath,
    size: f.file?.size ?? 0,
    status,
    key: f.key ?? null,
    error: f.error ? plainError(f.error) : null,
  };
}

function plainError(error) {
  return {
    code: String(error?.code ?? "UNKNOWN"),
    message: String(error?.message ?? error),
    ...(error?.status && { status: Number(error.status) }),
  };
}

async function begin(run) {
  run.plain.error = null;
  setStatus(run, "uploading");
  let result;
  try {
    result = await run.queue.start();
  } catch (error) {
    stopped(run, error);
    return;
  }
  if (run.plain.status === "cancelling") return; // cancel() reports
  run.plain.result = { done: result.done.length, failed: result.failed.length, cancelled: result.cancelled.length };
  run.plain.failed = result.failed.map(plainFile);
  run.failuresDirty = true;
  setStatus(run, result.failed.length > 0 ? "failed" : "done");
  if (result.failed.length === 0) refreshPendingFolders();
}

function stopped(run, error) {
  const status = run.plain.status;
  if (status === "cancelling" || status === "cancelled") return; // cancel() reports
  if (error?.code === "PAUSED") return setStatus(run, "paused");
  if (error?.code === "ABORTED") {
    setStatus(run, "cancelled");
    refreshPendingFolders();
    return;
  }
  queueFailed(run, plainError(error));
}

function queueFailed(run, problem) {
  run.plain.error = problem;
  console.warn(`resupload demo: the folder queue failed: ${problem.code}: ${problem.message}`);
  setStatus(run, "error");
}

function pause(run) {
  if (run.plain.status !== "uploading") return;
  setStatus(run, "pausing");
  run.queue.pause(); // start() then rejects with PAUSED
}

function resume(run) {
  if (run.plain.status === "paused") begin(run);
}

/** Retries the failed files: start() again sends the files not stored yet. */
function retry(run) {
  if (run.plain.status !== "failed" && run.plain.status !== "error") return;
  for (const f of run.plain.failed) run.ends.delete(f.index);
  run.plain.failed = [];
  run.failuresDirty = true;
  begin(run);
}

async function cancel(run) {
  const status = run.plain.status;
  if (!LIVE.has(status) || status === "adding" || status === "cancelling") return;
  setStatus(run, "cancelling");
  try {
    await run.queue.cancel();
  } catch (error) {
    queueFailed(run, { ...plainError(error), message: `cancelling failed: ${error?.message ?? error}` });
    return;
  }
  setStatus(run, "cancelled");
  refreshPendingFolders();
}

function setStatus(run, status) {
  run.plain.status = status;
  schedule();
  renderPending(); // Resume buttons wait while a folder is busy
}

// ------------------------------------------------------ unfinished folders

/** Reads the half-done folders kept in this browser (for the page's namespace) and lists them. */
export async function refreshPendingFolders() {
  if (!UploadQueue) return;
  try {
    const list = [...((await UploadQueue.listPending({ namespace: env.demo.namespace })) ?? [])];
    listed.clear();
    for (const p of list) listed.set(p.id, p);
    env.demo.pendingFolders = list.map((p) => ({
      id: p.id,
      name: p.name,
      files: Number(p.files),
      filesDone: Number(p.filesDone),
      bytes: Number(p.bytes),
      createdAt: Number(p.createdAt),
      canResumeWithoutPicking: Boolean(p.canResumeWithoutPicking),
      running: Boolean(p.running),
    }));
  } catch (error) {
    console.error("resupload demo: could not list the unfinished folders", error);
    env.showNotice(`Could not read the unfinished folders: ${error?.message ?? error}`, "warning");
  }
  renderPending();
}

function renderPending() {
  // The folder the panel is sending (resumed, or picked: then its batch is
  // the running one) is shown there, not here.
  const ours = (p) => p.id === current.pendingId || p.running;
  const shown = env.demo.pendingFolders.filter((p) => !(folderBusy() && ours(p)));
  $("#pending-folders").replaceChildren(...shown.map(pendingFolderItem));
  $("#pending-folders-section").hidden = shown.length === 0;
}

function pendingFolderItem(p) {
  const problem = env.demo.folderProblems[p.id];
  const oneClick = p.canResumeWithoutPicking && !problem;
  const li = el("li", { class: "pending-item", "data-folder-name": p.name, "data-resume-from": oneClick ? "handle" : "pick" });
  const info = el("div", { class: "pending-info" });
  info.append(el("span", { class: "file-name" }, p.name), el("span", { class: "file-size" }, formatBytes(p.bytes)));
  const percent = p.files > 0 ? Math.floor((100 * p.filesDone) / p.files) : 0;
  const progress = el(
    "p",
    { class: "pending-progress" },
    `${p.filesDone} of ${p.files} files stored` + (p.createdAt > 0 ? ` · started ${formatWhen(p.createdAt)}` : ""),
  );
  li.append(info, bar(percent, percent), progress);
  // This page's own queue is in the panel: a running one listed is another tab's.
  if (p.running) {
    li.dataset.running = "true";
    li.append(el("p", { class: "pending-running" }, "Uploading in another tab now: it goes on there."));
    return li;
  }
  if (problem) li.append(el("p", { class: "pending-problem", role: "alert" }, folderProblemText(problem)));
  const button = oneClick
    ? pendingButton("resume-folder", "Resume", "button primary", () => resumeFolder(p, button))
    : pendingButton("pick-folder", "Pick this folder again…", "button", chooseFolder);
  li.append(button);
  return li;
}

function pendingButton(action, label, className, onClick) {
  const button = el("button", { type: "button", class: className, "data-action": action }, label);
  button.disabled = folderBusy();
  button.addEventListener("click", onClick);
  return button;
}

// Runs inside the click: the browser asks for read permission only during
// one, so `resumePending` is called before anything is awaited.
async function resumeFolder(p, button) {
  if (folderBusy()) return;
  button.disabled = true;
  const run = newRun(p.name, "resume");
  run.pendingId = p.id;
  const options = queueOptions(run);
  delete options.endpoint; // the batch's own endpoint and namespace are used
  delete options.namespace;
  try {
    run.queue = await UploadQueue.resumePending(listed.get(p.id), options);
  } catch (error) {
    env.demo.folderProblems[p.id] = plainError(error);
    console.warn(`resupload demo: ${p.name}: resuming failed: ${error?.code}: ${error?.message ?? error}`);
    renderPending();
    return;
  }
  show(run);
  refreshFiles(run);
  begin(run);
}

const FOLDER_PROBLEMS = {
  PERMISSION_DENIED: "Reading the folder was not allowed. Pick it again to continue.",
  FILE_MISSING: "The folder is no longer where it was (moved, renamed or deleted). Pick it again to continue.",
  NO_HANDLE: "This browser no longer has the folder. Pick it again to continue.",
};

function folderProblemText({ code, message }) {
  return `${FOLDER_PROBLEMS[code] ?? `Resuming failed: ${message}. Pick the folder again to continue.`} (${code})`;
}

// -------------------------------------------------------------- rendering

// Every change asks for one redraw; a frame draws them all at once. A
// hidden page gets no animation frames, so a timer backs it up.
let drawQueued = false;

function schedule() {
  if (drawQueued) return;
  drawQueued = true;
  const flush = () => {
    if (!drawQueued) return;
    drawQueued = false;
    if (current) draw(current);
  };
  requestAnimationFrame(flush);
  setTimeout(flush, 100);
}

function draw(run) {
  drawTotals(run);
  drawActions(run);
  drawRows(run);
  if (run.failuresDirty) drawFailures(run);
}

const STATUS_TEXT = {
  adding: "reading the folder…",
  uploading: "uploading…",
  pausing: "pausing…",
  paused: "paused",
  cancelling: "cancelling…",
  cancelled: "cancelled",
  done: "done: every file is stored",
  failed: "finished, but some files failed: Retry sends them again",
};

function drawTotals(run) {
  const panel = $("#queue-section");
  const { plain } = run;
  const p = plain.progress;
  const files = p?.files ?? { total: run.files.length, done: 0, failed: 0 };
  const bytes = p?.bytes ?? { sent: 0, confirmed: 0, total: run.bytes };
  const percent = (n) => (bytes.total > 0 ? (100 * n) / bytes.total : files.total > 0 && files.done === files.total ? 100 : 0);
  $(".queue-name", panel).textContent = plain.name;
  $(".queue-files", panel).textContent = `${files.done} / ${files.total} files`;
  const failedLine = $(".queue-failed", panel);
  failedLine.hidden = files.failed === 0;
  failedLine.textContent = `${files.failed} failed`;
  setBar($(".progress", panel), percent(bytes.confirmed), percent(bytes.sent));
  $(".queue-bytes", panel).textContent = `${formatBytes(bytes.sent)} / ${formatBytes(bytes.total)}`;
  const running = plain.status === "uploading";
  $(".queue-speed", panel).textContent = running ? (p?.bytesPerSecond > 0 ? `${formatBytes(p.bytesPerSecond)}/s` : "–/s") : "";
  $(".queue-eta", panel).textContent = running ? `${formatDuration(p?.etaSeconds)} left` : "";
  drawStatus(run, panel);
}

function drawStatus(run, panel) {
  const { plain } = run;
  const status = $(".status", panel);
  status.className = `status status-${plain.status}`;
  let text = plain.status === "error" ? `error ${plain.error?.code}: ${plain.error?.message}` : STATUS_TEXT[plain.status];
  if (run.adding > 0 && plain.status !== "adding") text += " (reading more files…)";
  status.textContent = text;
  const note = $(".note", panel);
  note.hidden = plain.warnings.length === 0;
  note.textContent = `warnings: ${plain.warnings.join(", ")}`;
}

function drawActions(run) {
  const s = run.plain.status;
  const panel = $("#queue-section");
  const show = (action, visible, enabled = true) => {
    const button = $(`[data-action="${action}"]`, panel);
    button.hidden = !visible;
    button.disabled = !enabled;
  };
  show("pause-queue", s === "uploading" || s === "pausing", s === "uploading");
  show("resume-queue", s === "paused");
  show("retry-failed", s === "failed" || s === "error");
  show("cancel-queue", LIVE.has(s) && s !== "adding", s !== "cancelling");
}

function setBar(node, confirmedPercent, sentPercent) {
  node.setAttribute("aria-valuenow", String(Math.floor(sentPercent)));
  $(".progress-sent", node).style.width = `${sentPercent}%`;
  $(".progress-confirmed", node).style.width = `${confirmedPercent}%`;
}

function bar(confirmedPercent, sentPercent) {
  const node = el("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" });
  node.append(el("div", { class: "progress-sent" }), el("div", { class: "progress-confirmed" }));
  setBar(node, confirmedPercent, sentPercent);
  return node;
}

// The file list: a spacer as tall as every row, and only the rows in view
// (plus a few) as nodes, moved into place and refilled as it scrolls.
function drawRows(run) {
  const list = $("#queue-list");
  const rows = $(".queue-rows", list);
  const count = run.files.length;
  list.hidden = count === 0;
  $(".queue-spacer", list).style.height = `${count * ROW_HEIGHT}px`;
  const first = Math.max(0, Math.floor(list.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(count, first + Math.ceil(list.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN);
  rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
  while (rows.children.length < last - first) rows.append(rowNode());
  while (rows.children.length > Math.max(0, last - first)) rows.lastChild.remove();
  for (let i = first; i < last; i++) fillRow(rows.children[i - first], run, i);
  run.plain.listedRows = rows.children.length;
}

function rowNode() {
  const row = el("li", { class: "queue-row" });
  row.append(el("span", { class: "queue-mark" }), el("span", { class: "queue-path" }), el("span", { class: "queue-detail" }));
  return row;
}

const MARKS = { waiting: "·", done: "✓", skipped: "✓", failed: "✗", cancelled: "–" };

function fillRow(row, run, index) {
  const end = run.ends.get(index);
  const file = run.files[index];
  const status = end?.status ?? "waiting";
  const path = end?.relativePath || file?.webkitRelativePath || file?.name || "?";
  row.dataset.index = String(index);
  row.dataset.status = status;
  const [mark, name, detail] = row.children;
  mark.textContent = MARKS[status];
  name.textContent = path;
  name.title = path;
  detail.textContent =
    status === "failed" ? end.error.code : status === "skipped" ? "stored before" : formatBytes(file?.size ?? end?.size);
}

function drawFailures(run) {
  run.failuresDirty = false;
  const failures = run.plain.failed;
  $("#queue-failures").hidden = failures.length === 0;
  $("#queue-failures-count").textContent = String(failures.length);
  $("#queue-failed-list").replaceChildren(...failures.slice(0, FAILURES_SHOWN).map(failedItem));
  const more = $("#queue-failures-more");
  more.hidden = failures.length <= FAILURES_SHOWN;
  more.textContent = `and ${failures.length - FAILURES_SHOWN} more (marked ✗ in the list above)`;
}

function failedItem(f) {
  const li = el("li", { class: "failed-item", "data-path": f.relativePath });
  const status = f.error?.status ? ` ${f.error.status}` : "";
  li.append(
    el("span", { class: "file-name", title: f.relativePath }, f.relativePath),
    el("span", { class: "failed-error" }, `${f.error?.code}${status}: ${f.error?.message}`),
  );
  return li;
}
