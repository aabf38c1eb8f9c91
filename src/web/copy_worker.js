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
// Messages in: `{ name, blob }` once, then `{ stop: true }` to stop between
// chunks. Out, once: `{ done: true }`, or `{ error: { name, message } }`
// (a DOMException's name, so the page classifies it). A copy that fails
// or stops is deleted. The access handle's methods are awaited: in the
// first engines that had them, some answered promises.

const STAGING_DIR = "resupload-staging";
/** Bytes copied per write: bounded memory, and a stop is heard between. */
const COPY_CHUNK = 8 * 1024 * 1024;

let stopped = false;

onmessage = ({ data }) => {
  if (data.stop) {
    stopped = true;
    return;
  }
  copy(data.name, data.blob).then(
    () => postMessage({ done: true }),
    (e) => postMessage({ error: { name: e?.name || "Error", message: String(e?.message ?? e) } }),
  );
};

async function copy(name, blob) {
  if (typeof globalThis.FileSystemFileHandle?.prototype?.createSyncAccessHandle !== "function") {
    throw new DOMException("this browser can write no file in its origin-private file system", "NotSupportedError");
  }
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(STAGING_DIR, { create: true });
  const file = await dir.getFileHandle(name, { create: true });
  const access = await file.createSyncAccessHandle();
  try {
    await access.truncate(0);
    for (let at = 0; at < blob.size; at += COPY_CHUNK) {
      const bytes = new Uint8Array(await blob.slice(at, Math.min(blob.size, at + COPY_CHUNK)).arrayBuffer());
      if (stopped) throw new DOMException("staging was stopped", "AbortError");
      const written = await access.write(bytes, { at });
      if (written !== bytes.length) {
        throw new DOMException(`the copy took ${written} of ${bytes.length} bytes at ${at}`, "UnknownError");
      }
    }
    await access.flush();
  } catch (e) {
    await access.close();
    await dir.removeEntry(name).catch(() => {});
    throw e;
  }
  await access.close();
}
