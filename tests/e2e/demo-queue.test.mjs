// The demo page's folder upload (issue 13), driven through its controls:
// "Choose a folder…", a dropped folder, the folder input, the totals, the
// failed files with Retry, "Unfinished folders" after a reload, and a list
// of 10,000 files that keeps few nodes and frames flowing.
//
// A headless browser cannot answer a folder picker, so the page's
// `showDirectoryPicker` (and a synthetic drop's items) answer a folder made
// in the origin-private file system: a real FileSystemDirectoryHandle, which
// the page gives to `UploadQueue.add` as it would a chosen one. Runs in every
// engine (E2E_BROWSER). Where the page cannot write that file system (both
// WebKit engines here), folders come as Safari gives them: "Choose a
// folder…" opens the folder input, which gets Files with their
// `webkitRelativePath`, and a drop gives the folder's entry. The tests that
// need a folder handle skip there, saying so.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { afterEach } from "node:test";

import { cardCount, openDemo, pickFiles, randomNamespace } from "./demo.mjs";
import { engineHangOf, retriedOnEngineFault } from "./engine-traps.mjs";
import { waitUntil } from "./harness.mjs";
import { canWriteOpfs, contentBytes, installHelpers, markersStored } from "./in-page.mjs";
import { reloadMidUpload, useStack } from "./steps.mjs";

const stack = useStack(`demo-queue-${process.env.E2E_BROWSER || "chromium"}`);
// WPE 2.38's known fault (tests/e2e/README.md) gets a test its second try;
// each test opens its page itself.
const test = retriedOnEngineFault(() => ({ stack }));
afterEach(() => stack.gate.release());

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

// ------------------------------------------------------------ page helpers

/** In the page: `window.dq`, to make folders in the origin-private file system and hand them to the page. */
function installFolderHelpers() {
  if (window.dq) return;
  const folderOf = async (path, create = false) => {
    let dir = await navigator.storage.getDirectory();
    for (const name of path.split("/").filter(Boolean)) dir = await dir.getDirectoryHandle(name, { create });
    return dir;
  };
  // Folder `root` of `files` ({ path, size, seed }) as plain objects of a
  // handle's shape (kind, name, getFile, values), for its entry only: the
  // page never gets them as handles.
  const treeOf = (root, files) => {
    const dir = (name) => ({ kind: "directory", name, children: new Map(), async *values() { yield* this.children.values(); } });
    const top = dir(root);
    for (const spec of files) {
      const names = spec.path.split("/");
      const name = names.pop();
      let at = top;
      for (const n of names) at = at.children.get(n) ?? at.children.set(n, dir(n)).get(n);
      at.children.set(name, { kind: "file", name, getFile: async () => (await window.e2e.source({ ...spec, name })).source });
    }
    return top;
  };
  // A dropped folder's entry (webkitGetAsEntry), over a folder handle.
  const entryOf = (handle) =>
    handle.kind === "file"
      ? { isFile: true, isDirectory: false, name: handle.name, file: (ok, bad) => handle.getFile().then(ok, bad) }
      : {
          isFile: false,
          isDirectory: true,
          name: handle.name,
          createReader() {
            let read = false;
            return {
              async readEntries(ok, bad) {
                if (read) return ok([]);
                read = true;
                const entries = [];
                try {
                  for await (const child of handle.values()) entries.push(entryOf(child));
                } catch (error) {
                  return bad(error);
                }
                ok(entries);
              },
            };
          },
        };
  window.dq = {
    /** Writes `files` ([{ path, size, seed }]) under folder `root`. */
    async write(root, files) {
      for (const { path, size, seed } of files) {
        const parts = `${root}/${path}`.split("/");
        const name = parts.pop();
        const dir = await folderOf(parts.join("/"), true);
        const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
        await writable.write((await window.e2e.source({ name, size, seed })).source);
        await writable.close();
      }
    },
    /** Removes folder `root`, if it was made (where the page cannot write files, none was). */
    async remove(root) {
      const dir = await navigator.storage?.getDirectory?.().catch(() => null);
      await dir?.removeEntry(root, { recursive: true }).catch(() => {});
    },
    /** Makes the page's folder picker answer folder `root`. */
    async pickerAnswers(root) {
      const handle = await folderOf(root);
      window.showDirectoryPicker = async () => handle;
    },
    /**
     * Drops folder `root` on the drop zone: as its handle (`asHandle`) or as
     * its entry only. With `files` (where the page cannot make the folder),
     * the entry walks Files made in the page from those specs instead.
     */
    async drop(root, asHandle, files = null) {
      const handle = files ? treeOf(root, files) : await folderOf(root);
      const proto = DataTransferItem.prototype;
      Object.defineProperty(proto, "getAsFileSystemHandle", { configurable: true, writable: true, value: asHandle ? async () => handle : undefined });
      Object.defineProperty(proto, "webkitGetAsEntry", { configurable: true, writable: true, value: () => entryOf(handle) });
      const transfer = new DataTransfer();
      transfer.items.add(new File([], root)); // what a dropped folder's item gives as a file
      const zone = document.querySelector("#drop-zone");
      for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
      }
    },
  };
}

async function open(tab, params) {
  await openDemo(stack, tab, params);
  await preparePage(tab);
}

async function preparePage(tab) {
  await installHelpers(tab);
  await tab.evaluate(installFolderHelpers);
}

/**
 * Makes folder `root` in the page where it can write the origin-private
 * file system (elsewhere `chooseFolder` makes its Files); answers each
 * file's SHA-256 by its path in the queue (`root/path`).
 */
async function makeFolder(tab, root, files) {
  if (await canWriteOpfs(tab)) await tab.evaluate(({ root, files }) => window.dq.write(root, files), { root, files });
  return Object.fromEntries(files.map((f) => [`${root}/${f.path}`, sha256(contentBytes(f))]));
}

/**
 * Presses "Choose a folder…" and answers with folder `root` (made of
 * `files`); answers where the page took it from. Where the page can make
 * the folder, the page's folder picker answers its handle ("handle").
 * Elsewhere (both WebKit engines) the engine has no folder picker, as
 * Safari has none, so the button opens the folder input: its dialog is
 * cancelled, and the input gets the folder's Files ("input").
 */
async function chooseFolder(tab, root, files) {
  if (await canWriteOpfs(tab)) {
    await tab.evaluate((root) => window.dq.pickerAnswers(root), root);
    await tab.click('[data-action="choose-folder"]');
    return "handle";
  }
  await tab.evaluate(() => {
    window.folderInputOpened = false;
    const input = document.querySelector("#folder-input");
    const noDialog = (event) => {
      event.preventDefault();
      window.folderInputOpened = true;
    };
    input.addEventListener("click", noDialog, { once: true });
  });
  await tab.click('[data-action="choose-folder"]');
  assert.equal(await tab.evaluate(() => window.folderInputOpened), true, "“Choose a folder…” opens the folder input");
  await filesToFolderInput(tab, root, files);
  return "input";
}

/** The page's plain queue state (`ended` left out unless asked for). */
async function queueState(tab, withEnded = true) {
  return tab.evaluate((withEnded) => {
    const q = window.resuploadDemo.queue;
    if (!q) return null;
    const { ended, ...rest } = q;
    return JSON.parse(JSON.stringify(withEnded ? q : rest));
  }, withEnded);
}

async function waitQueue(tab, statuses, timeout = 120_000) {
  const wanted = [].concat(statuses);
  // The statuses passed through, for a timeout to say where it stuck (a
  // click that never arrived stays "uploading"; a stuck cancel stays
  // "cancelling").
  const seen = [];
  // When what the panel shows last changed: a queue WPE's fault left
  // standing still is an `EngineHang` (engine-traps.mjs).
  let moved = { at: Date.now(), sign: null };
  try {
    return await waitUntil(
      async () => {
        const q = await queueState(tab, false);
        if (q && q.status !== seen.at(-1)) seen.push(q.status);
        const sign = JSON.stringify(q);
        if (sign !== moved.sign) moved = { at: Date.now(), sign };
        return q && wanted.includes(q.status) ? q : null;
      },
      { timeout, interval: 150, what: `the folder queue to be ${wanted.join(" or ")}` },
    );
  } catch (error) {
    const still = { outcome: null, trail: { stillMs: Date.now() - moved.at, statuses: seen } };
    throw engineHangOf(still, new Error(`${error.message}; statuses seen: ${seen.join(" → ") || "none"}`));
  }
}

/** What the folder panel shows: totals, status, visible buttons, failed items, rows. */
async function panel(tab) {
  return tab.evaluate(async () => {
    // The panel is drawn on the next animation frame after a change (the
    // queue's state can be read before it): let that frame pass.
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    const section = document.querySelector("#queue-section");
    const text = (s) => section.querySelector(s)?.textContent ?? null;
    const visible = (node) => !node.hidden && node.offsetParent !== null;
    return {
      visible: !section.hidden,
      files: text(".queue-files"),
      failed: visible(section.querySelector(".queue-failed")) ? text(".queue-failed") : null,
      bytes: text(".queue-bytes"),
      status: text(".status"),
      buttons: [...section.querySelectorAll("button[data-action]")].filter(visible).map((b) => b.dataset.action),
      failures: [...section.querySelectorAll("#queue-failed-list .failed-item")].map((li) => ({ path: li.dataset.path, text: li.textContent })),
      rows: [...section.querySelectorAll(".queue-row")].map((r) => ({ index: Number(r.dataset.index), status: r.dataset.status })),
    };
  });
}

/** The unfinished folders the page lists. */
async function listedFolders(tab) {
  return tab.evaluate(() => ({
    visible: !document.querySelector("#pending-folders-section").hidden,
    items: [...document.querySelectorAll("#pending-folders .pending-item")].map((li) => ({
      name: li.dataset.folderName,
      actions: [...li.querySelectorAll("button[data-action]")].map((b) => b.dataset.action),
      text: li.textContent,
    })),
    state: window.resuploadDemo.pendingFolders,
  }));
}

const folderItem = (root) => `#pending-folders .pending-item[data-folder-name="${root}"]`;

/** Chooses folder `root`, lets `k` files be stored and holds the next, reloads; answers the unfinished folders listed. */
async function halfDoneAndReload(tab, root, k) {
  stack.gate.holdAfter(k);
  await chooseFolder(tab, root);
  await waitUntil(async () => stack.gate.heldOpen() >= 1 && (await markersStored(tab, root)) >= k, { timeout: 60_000, what: `${k} files stored, the next held` });
  await reloadMidUpload(stack, tab);
  await preparePage(tab);
  return waitUntil(async () => {
    const l = await listedFolders(tab);
    return l.items.length > 0 ? l : null;
  }, { timeout: 15_000, what: "the unfinished folder to be listed" });
}

// ----------------------------------------------------------------- checks

/** Every stored file the page reported (`ended`) is stored byte-identical under its key; answers them. */
async function assertStored(ended, expected) {
  const stored = ended.filter((f) => f.status === "done" || f.status === "skipped");
  assert.deepEqual(stored.map((f) => f.relativePath).sort(), Object.keys(expected).sort(), "every file of the folder reported stored");
  for (const f of stored) {
    const object = await stack.debug.object(f.key);
    assert.equal(object?.sha256, expected[f.relativePath], `${f.relativePath} stored byte-identical under ${f.key}`);
  }
  return stored;
}

const wholeFilesSent = (mark) => stack.gate.since(mark).filter((p) => p.partNumber === 0 && p.state === "done");

function totalsText(count, bytes) {
  const b = bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
  return { files: `${count} / ${count} files`, bytes: `${b} / ${b}` };
}

// ------------------------------------------------------------------ tests

test("Choose a folder…: every file stored byte-identical, the totals and list shown match", { timeout: 240_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("dq-chosen");
  await open(tab, { namespace, concurrency: 3 });
  const root = randomNamespace("chosen");
  const files = [
    { path: "empty.txt", size: 0, seed: 1 },
    ...Array.from({ length: 8 }, (_, i) => ({ path: `sub${i % 2}/f${i}.bin`, size: 3000 + i * 1111, seed: 20 + i })),
    { path: "notes/Été ?.txt", size: 777, seed: 40 },
  ];
  const expected = await makeFolder(tab, root, files);
  const mark = stack.gate.mark();
  const from = await chooseFolder(tab, root, files);
  const q = await waitQueue(tab, ["done", "failed", "error", "cancelled"]);
  assert.equal(q.status, "done", JSON.stringify(q.error ?? q.failed));
  assert.equal(q.from, from, "the folder came from the picker as a handle, or from the folder input");
  assert.equal(q.name, root);
  const state = await queueState(tab);
  await assertStored(state.ended, expected);
  assert.equal(wholeFilesSent(mark).length, files.length, "each file sent once, whole");

  const total = files.reduce((sum, f) => sum + f.size, 0);
  assert.deepEqual(state.progress.files, { total: files.length, done: files.length, failed: 0 });
  const shown = await panel(tab);
  assert.deepEqual({ files: shown.files, bytes: shown.bytes }, totalsText(files.length, total));
  assert.equal(shown.failed, null, "no failed count shown");
  assert.deepEqual(shown.failures, []);
  assert.deepEqual(shown.buttons, [], "nothing to pause, retry or cancel");
  assert.match(shown.status, /done/);
  assert.equal(state.listedRows, files.length, "a short folder: every row drawn");
  assert.deepEqual(shown.rows.map((r) => r.status), files.map(() => "done"));
  assert.equal((await listedFolders(tab)).visible, false, "no unfinished folder listed");
  await tab.evaluate((root) => window.dq.remove(root), root);
});

test("more than 8 files picked at once go to the queue, as a folder does (before: an upload each, all at once)", { timeout: 240_000 }, async () => {
  const tab = stack.tab;
  await open(tab, { namespace: randomNamespace("dq-many"), concurrency: 3 });
  const made = [];
  for (let i = 0; i < 12; i++) made.push(await stack.makeFile(`many-${i}.bin`, 2000 + i * 333));
  await pickFiles(tab, ...made.map((f) => f.path));
  const q = await waitQueue(tab, ["done", "failed", "error", "cancelled"]);
  assert.equal(q.status, "done", JSON.stringify(q.error ?? q.failed));
  assert.equal(q.name, "12 files");
  assert.equal(await cardCount(tab), 0, "no card of its own for any of them");
  const { ended } = await queueState(tab);
  assert.deepEqual(ended.map((f) => f.status), made.map(() => "done"));
  for (const f of ended) {
    const object = await stack.debug.object(f.key);
    assert.equal(object?.sha256, made.find((m) => f.key.endsWith(`/${m.name}`))?.sha256, `${f.key} stored byte-identical`);
  }
});

test("a half-done folder is listed after a reload; Resume sends only the rest and the list empties", { timeout: 300_000 }, async (t) => {
  const tab = stack.tab;
  const namespace = randomNamespace("dq-resume");
  const params = { namespace, concurrency: 1 };
  await open(tab, params);
  if (!(await canWriteOpfs(tab))) return t.skip("no origin-private file system to make a folder in");
  const root = randomNamespace("half");
  const files = Array.from({ length: 12 }, (_, i) => ({ path: `d/f${String(i).padStart(2, "0")}.bin`, size: 20_000 + i, seed: 100 + i }));
  const expected = await makeFolder(tab, root, files);
  const k = 5;
  const listed = await halfDoneAndReload(tab, root, k);
  assert.equal(listed.visible, true);
  assert.deepEqual(listed.items.map((i) => [i.name, i.actions]), [[root, ["resume-folder"]]]);
  assert.match(listed.items[0].text, new RegExp(`${k} of ${files.length} files stored`));
  assert.deepEqual(
    listed.state.map((p) => [p.name, p.files, p.filesDone, p.canResumeWithoutPicking]),
    [[root, files.length, k, true]],
  );

  const mark = stack.gate.mark();
  await tab.click(`${folderItem(root)} [data-action="resume-folder"]`);
  const q = await waitQueue(tab, ["done", "failed", "error", "cancelled"]);
  assert.equal(q.status, "done", JSON.stringify(q.error ?? q.failed));
  assert.equal(q.from, "resume");
  assert.equal(wholeFilesSent(mark).length, files.length - k, "only the files not stored before are sent");
  const state = await queueState(tab);
  assert.equal(state.ended.filter((f) => f.status === "skipped").length, k, "the stored files are skipped");
  await assertStored(state.ended, expected);
  assert.equal((await panel(tab)).files, `${files.length} / ${files.length} files`);
  const after = await waitUntil(async () => {
    const l = await listedFolders(tab);
    return l.state.length === 0 ? l : null;
  }, { timeout: 15_000, what: "the finished folder to leave the list" });
  assert.equal(after.visible, false);
  await tab.evaluate((root) => window.dq.remove(root), root);
});

test("a Resume that finds the folder gone says so and offers “Pick this folder again…”, sending nothing", { timeout: 240_000 }, async (t) => {
  const tab = stack.tab;
  await open(tab, { namespace: randomNamespace("dq-gone"), concurrency: 1 });
  if (!(await canWriteOpfs(tab))) return t.skip("no origin-private file system to make a folder in");
  const root = randomNamespace("gone");
  await makeFolder(tab, root, Array.from({ length: 4 }, (_, i) => ({ path: `g${i}.bin`, size: 7000 + i, seed: 350 + i })));
  await halfDoneAndReload(tab, root, 2);
  await tab.evaluate((root) => window.dq.remove(root), root);
  const mark = stack.gate.mark();
  await tab.click(`${folderItem(root)} [data-action="resume-folder"]`);
  const shown = await waitUntil(async () => {
    const l = await listedFolders(tab);
    const item = l.items.find((i) => i.name === root);
    return item?.actions[0] === "pick-folder" ? item : null;
  }, { timeout: 30_000, what: "the list to say why Resume failed" });
  assert.match(shown.text, /FILE_MISSING/);
  assert.match(shown.text, /no longer where it was/);
  assert.equal(await queueState(tab), null, "no folder panel was started");
  assert.deepEqual(stack.gate.since(mark), [], "nothing was sent");
});

test("a file failing for good is listed with its error; Retry stores it", { timeout: 240_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("dq-failed");
  await open(tab, { namespace, concurrency: 2 });
  const root = randomNamespace("failing");
  const files = Array.from({ length: 6 }, (_, i) => ({ path: i === 3 ? "x/bad.bin" : `x/ok${i}.bin`, size: 9000 + i, seed: 300 + i }));
  const expected = await makeFolder(tab, root, files);
  stack.gate.injectFile("bad.bin", { status: 403, body: "<Error><Code>AccessDenied</Code><Message>no</Message></Error>" });
  await chooseFolder(tab, root, files);
  const q = await waitQueue(tab, ["done", "failed", "error", "cancelled"]);
  assert.equal(q.status, "failed", "the queue ends with a failed file");
  assert.deepEqual(q.failed.map((f) => [f.relativePath, f.error.code, f.error.status]), [[`${root}/x/bad.bin`, "HTTP_STATUS", 403]]);
  const shown = await panel(tab);
  assert.equal(shown.failed, "1 failed");
  assert.equal(shown.failures.length, 1);
  assert.equal(shown.failures[0].path, `${root}/x/bad.bin`);
  assert.match(shown.failures[0].text, /HTTP_STATUS 403/);
  assert.ok(shown.failures[0].text.includes(q.failed[0].error.message), "the error's message is shown");
  assert.deepEqual(shown.buttons, ["retry-failed"]);
  assert.deepEqual(shown.rows.filter((r) => r.status === "failed").map((r) => r.index), [q.failed[0].index], "its row is marked failed");

  const mark = stack.gate.mark();
  await tab.click('[data-action="retry-failed"]');
  const retried = await waitQueue(tab, ["done", "failed", "error"]);
  assert.equal(retried.status, "done", JSON.stringify(retried.failed));
  assert.equal(wholeFilesSent(mark).length, 1, "only the failed file is sent again");
  await assertStored((await queueState(tab)).ended, expected);
  const after = await panel(tab);
  assert.deepEqual([after.failed, after.failures, after.buttons], [null, [], []]);
  await tab.evaluate((root) => window.dq.remove(root), root);
});

test("a dropped folder: as its handle where the browser gives one, else as its entry", { timeout: 240_000 }, async () => {
  const tab = stack.tab;
  await open(tab, { namespace: randomNamespace("dq-drop"), concurrency: 3 });
  // Where the page cannot make a folder (both WebKit engines), the folder
  // is dropped as its entry only, as Safari gives one.
  const opfs = await canWriteOpfs(tab);
  for (const asHandle of opfs ? [true, false] : [false]) {
    const root = randomNamespace(asHandle ? "dropped-handle" : "dropped-entry");
    const files = Array.from({ length: 4 }, (_, i) => ({ path: `in/f${i}.bin`, size: 5000 + i, seed: 400 + i }));
    const expected = await makeFolder(tab, root, files);
    await tab.evaluate(({ root, asHandle, files }) => window.dq.drop(root, asHandle, files), { root, asHandle, files: opfs ? null : files });
    const q = await waitUntil(async () => {
      const s = await queueState(tab, false);
      return s?.name === root && ["done", "failed", "error"].includes(s.status) ? s : null;
    }, { timeout: 60_000, what: `the dropped folder ${root} to end` });
    assert.equal(q.status, "done", JSON.stringify(q.error ?? q.failed));
    assert.equal(q.from, asHandle ? "handle" : "entry");
    await assertStored((await queueState(tab)).ended, expected);
    assert.deepEqual(await tab.evaluate(() => window.resuploadDemo.uploads.length), 0, "no single-file card for a dropped folder");
    await tab.evaluate((root) => window.dq.remove(root), root);
  }
});

test("a folder dropped while another still sends joins its run: its files go at once, beside the held one", { timeout: 240_000 }, async () => {
  const tab = stack.tab;
  await open(tab, { namespace: randomNamespace("dq-join"), concurrency: 3 });
  const opfs = await canWriteOpfs(tab);
  const first = randomNamespace("join-first");
  const firstFiles = [
    { path: "long.bin", size: 9000, seed: 450 },
    { path: "short.bin", size: 9001, seed: 451 },
  ];
  const second = randomNamespace("join-second");
  const secondFiles = Array.from({ length: 20 }, (_, i) => ({ path: `s/f${i}.bin`, size: 2000 + i, seed: 460 + i }));
  const expected = { ...(await makeFolder(tab, first, firstFiles)), ...(await makeFolder(tab, second, secondFiles)) };
  // long.bin is stored, but its answer is held: its file is still sending.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  stack.gate.injectRequest({ method: "PUT", keySuffix: `${first}/long.bin` }, { holdAnswer: held });
  try {
    await tab.evaluate(({ root, files }) => window.dq.drop(root, false, files), { root: first, files: opfs ? null : firstFiles });
    await waitUntil(async () => (await queueState(tab))?.ended.some((f) => f.relativePath === `${first}/short.bin`), { timeout: 30_000, what: "short.bin stored" });
    await tab.evaluate(({ root, files }) => window.dq.drop(root, false, files), { root: second, files: opfs ? null : secondFiles });
    const q = await waitUntil(
      async () => {
        const s = await queueState(tab);
        return s.ended.filter((f) => f.relativePath.startsWith(`${second}/`) && f.status === "done").length === secondFiles.length ? s : null;
      },
      { timeout: 30_000, what: "the second folder's files stored while long.bin still sends" },
    );
    assert.equal(q.status, "uploading", "one run: the first folder's long.bin still sends");
    assert.equal(q.progress.files.total, firstFiles.length + secondFiles.length);
  } finally {
    release();
  }
  const q = await waitQueue(tab, ["done", "failed", "error", "cancelled"]);
  assert.equal(q.status, "done", JSON.stringify(q.error ?? q.failed));
  assert.equal(q.result.done, firstFiles.length + secondFiles.length, "start() lists every file of both folders");
  await assertStored((await queueState(tab)).ended, expected);
  await tab.evaluate((roots) => Promise.all(roots.map((root) => window.dq.remove(root))), [first, second]);
});

/**
 * Gives the folder input folder `root` (on disk at `dir`, made of `files`) as
 * a `webkitdirectory` input gives a folder a user picks: its Files, each with
 * its folder path. Playwright gives the input the folder from the disk. The
 * other engines' drivers cannot: geckodriver refuses a folder, and WebKit's
 * drivers give the folder as one empty File of its name, with no path. There
 * the page gives the input the same Files, made from the same specs, each
 * with its `webkitRelativePath`, and fires `change` as a pick does.
 */
async function giveFolderInput(tab, root, dir, files) {
  if (stack.browserName === "chromium") return tab.pickFiles("#folder-input", [dir]);
  await filesToFolderInput(tab, root, files);
}

/** In the page: gives the folder input Files made from `files`, each with its path under `root`, and fires `change`. */
async function filesToFolderInput(tab, root, files) {
  await tab.evaluate(
    async ({ root, files }) => {
      const made = [];
      for (const spec of files) {
        const { source } = await window.e2e.source({ ...spec, name: spec.path.split("/").pop() });
        // Only an input sets a File's path: an own property stands in for it.
        Object.defineProperty(source, "webkitRelativePath", { value: `${root}/${spec.path}` });
        made.push(source);
      }
      const input = document.querySelector("#folder-input");
      Object.defineProperty(input, "files", { configurable: true, get: () => made });
      input.dispatchEvent(new Event("change"));
      delete input.files;
    },
    { root, files },
  );
}

test("the folder input (no folder picker): a half-done folder offers “Pick this folder again…”, which sends only the rest", { timeout: 300_000 }, async () => {
  const tab = stack.tab;
  const namespace = randomNamespace("dq-input");
  const params = { namespace, concurrency: 1 };
  await open(tab, params);
  const root = randomNamespace("picked");
  const dir = path.join(stack.filesDir, root);
  const files = Array.from({ length: 8 }, (_, i) => ({ path: `p/f${i}.bin`, size: 12_000 + i, seed: 500 + i }));
  const expected = {};
  for (const f of files) {
    await fs.mkdir(path.dirname(path.join(dir, f.path)), { recursive: true });
    await fs.writeFile(path.join(dir, f.path), contentBytes(f));
    expected[`${root}/${f.path}`] = sha256(contentBytes(f));
  }
  const k = 3;
  stack.gate.holdAfter(k);
  await giveFolderInput(tab, root, dir, files);
  const first = await waitUntil(async () => {
    const s = await queueState(tab);
    return s && (s.files > 0 || s.status === "error") ? s : null;
  }, { timeout: 30_000, what: "the picked folder to be added" });
  assert.equal(first.files, files.length, JSON.stringify(first.error));
  assert.equal(first.from, "input");
  assert.equal(first.name, root);
  await waitUntil(async () => stack.gate.heldOpen() >= 1 && (await markersStored(tab, root)) >= k, { timeout: 60_000, what: `${k} files stored, the next held` });
  await reloadMidUpload(stack, tab);

  const listed = await waitUntil(async () => {
    const l = await listedFolders(tab);
    return l.items.length > 0 ? l : null;
  }, { timeout: 15_000, what: "the unfinished folder to be listed" });
  assert.deepEqual(listed.items.map((i) => [i.name, i.actions]), [[root, ["pick-folder"]]], "no one-click Resume without a folder handle");
  const mark = stack.gate.mark();
  await installHelpers(tab); // the reload took the page's helpers
  await giveFolderInput(tab, root, dir, files);
  const q = await waitQueue(tab, ["done", "failed", "error", "cancelled"]);
  assert.equal(q.status, "done", JSON.stringify(q.error ?? q.failed));
  assert.equal(wholeFilesSent(mark).length, files.length - k, "the files stored before are skipped");
  await assertStored((await queueState(tab)).ended, expected);
  await waitUntil(async () => (await listedFolders(tab)).state.length === 0, { timeout: 15_000, what: "the folder to leave the list" });
  assert.equal((await listedFolders(tab)).visible, false);
});

/**
 * In the page: gives the folder input `count` tiny Files (its own add path)
 * and measures the longest gap between animation frames while the queue
 * takes them in, while the list is scrolled, and while the first files go.
 */
async function tenThousand(count) {
  const gaps = { idle: 0, adding: 0, scrolling: 0, uploading: 0 };
  let phase = "idle";
  let last = performance.now();
  let measuring = true;
  const tick = (now) => {
    gaps[phase] = Math.max(gaps[phase], now - last);
    last = now;
    if (measuring) requestAnimationFrame(tick);
  };
  const frames = (n) => new Promise((resolve) => {
    const step = () => (--n <= 0 ? resolve() : requestAnimationFrame(step));
    requestAnimationFrame(step);
  });
  const until = async (check, ms) => {
    const end = performance.now() + ms;
    while (!check() && performance.now() < end) await frames(1);
    return check();
  };
  const transfer = new DataTransfer();
  for (let i = 0; i < count; i++) transfer.items.add(new File(["x"], `tiny-${String(i).padStart(5, "0")}.txt`, { lastModified: 1_700_000_000_000 }));
  const input = document.querySelector("#folder-input");
  input.files = transfer.files;
  await frames(2);
  last = performance.now();
  requestAnimationFrame(tick);
  await until(() => false, 1000); // the machine's own noise, for comparison
  phase = "adding";
  const started = performance.now();
  input.dispatchEvent(new Event("change", { bubbles: true }));
  const demo = window.resuploadDemo;
  const added = await until(() => demo.queue?.files === count && demo.queue.status !== "adding", 60_000);
  const addMs = performance.now() - started;
  await frames(3);
  phase = "scrolling";
  const list = document.querySelector("#queue-list");
  const seen = [];
  for (const to of [0.5, 1]) {
    list.scrollTop = to * list.scrollHeight;
    await frames(3);
    seen.push([...list.querySelectorAll(".queue-row")].map((r) => Number(r.dataset.index)));
  }
  list.scrollTop = 0;
  phase = "uploading";
  await until(() => false, 2000);
  measuring = false;
  const nodes = list.querySelectorAll("*").length;
  const round = (ms) => Math.round(ms * 10) / 10;
  return {
    added,
    addMs: Math.round(addMs),
    gaps: Object.fromEntries(Object.entries(gaps).map(([k, v]) => [k, round(v)])),
    nodes,
    panelNodes: document.querySelectorAll("#queue-section *").length,
    listedRows: demo.queue.listedRows,
    middle: seen[0],
    end: seen[1],
    filesShown: document.querySelector("#queue-section .queue-files").textContent,
    ended: demo.queue.ended.length,
  };
}

test("10,000 files: the list keeps a few dozen nodes, and frames keep coming (max gap reported)", { timeout: 240_000 }, async (t) => {
  const tab = stack.tab;
  const count = 10_000;
  await open(tab, { namespace: randomNamespace("dq-many"), concurrency: 4 });
  const m = await tab.evaluate(tenThousand, count);
  t.diagnostic(`10,000 files: added in ${m.addMs} ms; longest frame gap ${m.gaps.idle} ms idle (before), ${m.gaps.adding} ms while adding, ${m.gaps.scrolling} ms while scrolling, ${m.gaps.uploading} ms while uploading; list ${m.nodes} nodes (${m.listedRows} rows), panel ${m.panelNodes} nodes; ${m.ended} files ended in the first seconds`);
  assert.equal(m.added, true, "the queue took the 10,000 files in");
  assert.match(m.filesShown, new RegExp(`/ ${count} files$`));
  assert.ok(m.listedRows > 0 && m.listedRows < 50, `only the rows in view are drawn: ${m.listedRows}`);
  assert.ok(m.nodes < 200, `the list holds far fewer nodes than files: ${m.nodes}`);
  assert.ok(m.middle.includes(count / 2) || m.middle.some((i) => Math.abs(i - count / 2) < 30), `scrolled to the middle, the rows there are drawn: ${m.middle[0]}…${m.middle.at(-1)}`);
  assert.ok(m.end.includes(count - 1), `scrolled to the end, the last row is drawn: ${m.end.at(-1)}`);

  await waitUntil(async () => (await tab.evaluate(() => window.resuploadDemo.queue.ended.length)) > 0, { timeout: 60_000, what: "the first of the 10,000 files to be stored" });

  // Stop: the whole queue is cancelled, and nothing more is sent.
  const cancelAt = Date.now();
  await tab.click('[data-action="cancel-queue"]');
  const q = await waitQueue(tab, ["cancelled", "done", "error"], 60_000);
  t.diagnostic(`the cancel of ${count} files took ${Date.now() - cancelAt} ms`);
  assert.equal(q.status, "cancelled", JSON.stringify(q.error));
  const mark = stack.gate.mark();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.ok(stack.gate.since(mark).length <= 4, "nothing new is sent after the cancel");
});
