// Many files with resupload's queue (issue 13), as an app would use it:
// `new UploadQueue({ endpoint, concurrency, checksum, namespace })`,
// `await queue.add(files)`, `await queue.start()` → { done: [{ name,
// relativePath, key, skipped? }], failed: [{ name, relativePath, error }],
// cancelled }. The clock runs from the constructor (adding the files counts).
// Each run gets its own namespace, so no run finds an earlier run's files
// stored (a stored file would be `skipped`).
//
// Answers { seconds, objects: [{ name, key }], failed: [{ name, error }] }.

(window.benchClients ??= {})["files-resupload"] = async ({ concurrency, tag, checksum = "none" }) => {
  const { UploadQueue, files } = window.bench;
  const t0 = performance.now();
  let queue;
  try {
    queue = new UploadQueue({ endpoint: "/api/s3", concurrency, checksum, namespace: `bench-${tag}` });
    await queue.add(files);
    const added = (performance.now() - t0) / 1000;
    const { done, failed, cancelled = [] } = await queue.start();
    const seconds = (performance.now() - t0) / 1000;
    const skipped = done.filter((d) => d.skipped).length;
    const notes = [];
    if (added > 0.05 * seconds) notes.push(`adding the files took ${added.toFixed(2)} s of ${seconds.toFixed(2)} s`);
    return {
      seconds,
      objects: done.filter((d) => !d.skipped).map((d) => ({ name: d.name, key: d.key })),
      failed: [
        ...failed.map((f) => ({ name: f.name, error: `${f.error?.code ?? "Error"}: ${f.error?.message ?? f.error}` })),
        ...cancelled.map((f) => ({ name: f.name, error: "cancelled" })),
        ...done.filter((d) => d.skipped).map((d) => ({ name: d.name, error: "skipped: stored by an earlier run" })),
      ],
      notes: skipped ? [...notes, `${skipped} files skipped as stored before`] : notes,
    };
  } catch (e) {
    throw new Error(`${e?.code ?? "Error"}: ${e?.message ?? e}`);
  } finally {
    queue?.free();
  }
};
