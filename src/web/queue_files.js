// What `UploadQueue.add(...)` accepts, flattened to files with their path
// in the folder they came from: a File, a FileList (an `<input multiple>`
// or `webkitdirectory` input: `webkitRelativePath` is kept), an array of
// any of these, a FileSystemFileHandle, a FileSystemDirectoryHandle
// (`showDirectoryPicker()`, a dropped folder's `getAsFileSystemHandle()`),
// or a FileSystemDirectoryEntry (a dropped folder's `webkitGetAsEntry()`).
// Folders are walked recursively. Anything else is refused. Each answer
// the walk waits for from the browser (a file, a folder's next entries) is
// given up after `ANSWER_MS`: a folder on a network share that went away,
// or a cloud placeholder whose provider never answers, is unreadable, not
// a walk that never ends. Once one entry of a folder went unanswered, the
// folder's later entries are not asked (unreadable too): a share gone
// after its listing costs `ANSWER_MS` a folder, not a file.

/** How long the walk waits for one answer of the browser (ms). */
export const ANSWER_MS = 30_000;

/**
 * `[files, unreadable]` for `input`: `files` as `[[file, relativePath], ...]`,
 * `unreadable` as `[[path, error], ...]`, each a file or folder the browser
 * would not read (deleted during the walk, a folder the system keeps from
 * the browser, a permission that lapsed): the walk goes on without it.
 * Rejects with a TypeError naming what it cannot take.
 */
export async function collectFiles(input) {
  const out = { files: [], unreadable: [] };
  await collect(input, "", out, { stuck: null });
  return [out.files, out.unreadable];
}

/**
 * Adds `item` (in `folder`, a path ending in "/" or "") to `out`. `within`
 * is the state of the folder it is in: `stuck`, the path of an entry that
 * did not answer, after which the folder's later entries are not asked.
 */
async function collect(item, folder, out, within) {
  if (isBlob(item)) {
    out.files.push([item, folder ? folder + nameOf(item) : item.webkitRelativePath || ""]);
  } else if (isList(item)) {
    for (const each of Array.from(item)) await collect(each, folder, out, within);
  } else if (item?.kind === "file" && typeof item.getFile === "function") {
    const path = folder + item.name;
    await reading(out, path, within, async () => out.files.push([await answered(item.getFile(), path), folder ? path : ""]));
  } else if (item?.kind === "directory" && typeof item.values === "function") {
    const inside = `${folder}${item.name}/`;
    await reading(out, inside, within, async () => {
      const children = item.values();
      const state = { stuck: null };
      for (;;) {
        const next = await answered(children.next(), inside);
        if (next.done) return;
        await collect(next.value, inside, out, state);
      }
    });
  } else if (item?.isFile && typeof item.file === "function") {
    const path = folder + item.name;
    await reading(out, path, within, async () => {
      // As a handle's: a file dropped alone has no folder path.
      const file = await answered(new Promise((resolve, reject) => item.file(resolve, reject)), path);
      out.files.push([file, folder ? path : ""]);
    });
  } else if (item?.isDirectory && typeof item.createReader === "function") {
    const inside = `${folder}${item.name}/`;
    await reading(out, inside, within, async () => {
      const state = { stuck: null };
      for (const child of await readAll(item.createReader(), inside)) await collect(child, inside, out, state);
    });
  } else {
    throw new TypeError(`cannot add ${describe(item)}: give Files, a FileList, file or folder handles, or dropped folder entries`);
  }
}

/**
 * Runs `read`, a file's or a folder's reading: its failure goes to
 * `out.unreadable` as `path`'s, and the walk goes on. In a folder `within`
 * that is stuck (an earlier entry did not answer), nothing is asked.
 */
async function reading(out, path, within, read) {
  if (within.stuck) {
    const why = `${path}: not asked, as ${within.stuck} in the same folder did not answer within ${ANSWER_MS / 1000} s`;
    out.unreadable.push([path, new DOMException(why, "TimeoutError")]);
    return;
  }
  try {
    await read();
  } catch (error) {
    out.unreadable.push([path, error]);
    if (error?.name === "TimeoutError") within.stuck = path;
  }
}

const nameOf = (blob) => blob.name ?? "blob";

// By brand as well as instanceof: Files and FileLists of another realm (an
// iframe's input) are not instances of this page's classes.
const brand = (item) => Object.prototype.toString.call(item);

function isBlob(item) {
  return item instanceof Blob || brand(item) === "[object Blob]" || brand(item) === "[object File]";
}

function isList(item) {
  return Array.isArray(item) || (typeof FileList !== "undefined" && item instanceof FileList) || brand(item) === "[object FileList]";
}

/** `promise`, or a TimeoutError naming `path` once it has not settled within `ANSWER_MS`. */
function answered(promise, path) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DOMException(`${path}: the browser did not answer within ${ANSWER_MS / 1000} s`, "TimeoutError")), ANSWER_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Every entry of a directory reader (it answers in batches until an empty one). */
async function readAll(reader, path) {
  const entries = [];
  for (;;) {
    const batch = await answered(new Promise((resolve, reject) => reader.readEntries(resolve, reject)), path);
    if (batch.length === 0) return entries;
    entries.push(...batch);
  }
}

function describe(item) {
  if (item === null || item === undefined) return String(item);
  return item?.constructor?.name ?? typeof item;
}
