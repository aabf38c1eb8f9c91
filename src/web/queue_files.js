// What `UploadQueue.add(...)` accepts, flattened to files with their path
// in the folder they came from: a File, a FileList (an `<input multiple>`
// or `webkitdirectory` input: `webkitRelativePath` is kept), an array of
// any of these, a FileSystemFileHandle, a FileSystemDirectoryHandle
// (`showDirectoryPicker()`, a dropped folder's `getAsFileSystemHandle()`),
// or a FileSystemDirectoryEntry (a dropped folder's `webkitGetAsEntry()`).
// Folders are walked recursively. Anything else is refused.

/**
 * `[files, unreadable]` for `input`: `files` as `[[file, relativePath], ...]`,
 * `unreadable` as `[[path, error], ...]`, each a file or folder the browser
 * would not read (deleted during the walk, a folder the system keeps from
 * the browser, a permission that lapsed): the walk goes on without it.
 * Rejects with a TypeError naming what it cannot take.
 */
export async function collectFiles(input) {
  const out = { files: [], unreadable: [] };
  await collect(input, "", out);
  return [out.files, out.unreadable];
}

async function collect(item, folder, out) {
  if (isBlob(item)) {
    out.files.push([item, folder ? folder + nameOf(item) : item.webkitRelativePath || ""]);
  } else if (isList(item)) {
    for (const each of Array.from(item)) await collect(each, folder, out);
  } else if (item?.kind === "file" && typeof item.getFile === "function") {
    await reading(out, folder + item.name, async () => out.files.push([await item.getFile(), folder ? folder + item.name : ""]));
  } else if (item?.kind === "directory" && typeof item.values === "function") {
    const inside = `${folder}${item.name}/`;
    await reading(out, inside, async () => {
      for await (const child of item.values()) await collect(child, inside, out);
    });
  } else if (item?.isFile && typeof item.file === "function") {
    await reading(out, folder + item.name, async () => {
      // As a handle's: a file dropped alone has no folder path.
      out.files.push([await new Promise((resolve, reject) => item.file(resolve, reject)), folder ? folder + item.name : ""]);
    });
  } else if (item?.isDirectory && typeof item.createReader === "function") {
    const inside = `${folder}${item.name}/`;
    await reading(out, inside, async () => {
      for (const child of await readAll(item.createReader())) await collect(child, inside, out);
    });
  } else {
    throw new TypeError(`cannot add ${describe(item)}: give Files, a FileList, file or folder handles, or dropped folder entries`);
  }
}

/** Runs `read`, a file's or a folder's reading: its failure goes to `out.unreadable` as `path`'s, and the walk goes on. */
async function reading(out, path, read) {
  try {
    await read();
  } catch (error) {
    out.unreadable.push([path, error]);
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

/** Every entry of a directory reader (it answers in batches until an empty one). */
async function readAll(reader) {
  const entries = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return entries;
    entries.push(...batch);
  }
}

function describe(item) {
  if (item === null || item === undefined) return String(item);
  return item?.constructor?.name ?? typeof item;
}
