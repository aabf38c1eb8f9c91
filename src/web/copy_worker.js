// The staging copier for engines whose files have no `createWritable()`
// (Safari 15.2 to 18): a dedicated worker copies a Blob into the staging
// folder of the origin-private file system through a
// FileSystemSyncAccessHandle, which only dedicated workers get.
//
// A leaf module (it imports nothing), started by file_access.js, one per
// copy, with `new Worker(new URL("./copy_worker.js", import.meta.url), {
// type: "module" })`, which bundlers emit as an asset of its own.
// scripts/build.mjs puts it beside file_access.js in the package.
//
// Messages in: `{ dir, name, blob, chunk }` once (the staging folder, the
// copy's name, what to copy, and the bytes to copy per write, as
// file_access.js sets them), then `{ stop: true }` to stop between chunks. Out, once: `{ done: true }`, or `{ error: { name, message } }`
// (a DOMException's name, so the page classifies it). A copy that fails
// or stops is deleted. The access handle's methods are awaited: in the
// first engines that had them, some answered promises.

let stopped = false;

onmessage = ({ data }) => {
  if (data.stop) {
    stopped = true;
    return;
  }
  copy(data).then(
    () => postMessage({ done: true }),
    (e) => postMessage({ error: { name: e?.name || "Error", message: String(e?.message ?? e) } }),
  );
};

async function copy({ dir: dirName, name, blob, chunk }) {
  if (typeof globalThis.FileSystemFileHandle?.prototype?.createSyncAccessHandle !== "function") {
    throw new DOMException("this browser can write no file in its origin-private file system", "NotSupportedError");
  }
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(dirName, { create: true });
  const file = await dir.getFileHandle(name, { create: true });
  const access = await file.createSyncAccessHandle();
  try {
    await access.truncate(0);
    for (let at = 0; at < blob.size; at += chunk) {
      const bytes = new Uint8Array(await blob.slice(at, Math.min(blob.size, at + chunk)).arrayBuffer());
      if (stopped) throw new DOMException("staging was stopped", "AbortError");
      const written = await access.write(bytes, { at });
      if (written !== bytes.length) {
        throw new DOMException(`the copy took ${written} of ${bytes.length} bytes at ${at}`, "UnknownError");
      }
    }
    // Stopped during the last chunk: the page has tried to remove the copy
    // already (this handle's lock kept it), so it must not stay whole.
    if (stopped) throw new DOMException("staging was stopped", "AbortError");
    await access.flush();
  } catch (e) {
    // A close that fails too must not keep the partial copy, nor hide why.
    await Promise.resolve()
      .then(() => access.close())
      .catch(() => {});
    await dir.removeEntry(name).catch(() => {});
    throw e;
  }
  await access.close();
}
