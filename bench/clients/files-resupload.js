// Many files with resupload's queue (issue 13), as an app would use it:
// `new UploadQueue({ endpoint, concurrency, checksum })`, `queue.add(files)`,
// `await queue.start()` → { done: [{ name, relativePath, key }],
// failed: [{ name, relativePath, error }] }. Builds without UploadQueue
// answer { unsupported }.
//
// Answers { seconds, objects: [{ name, key }], failed: [{ name, error }] }.

(window.benchClients ??= {})["files-resupload"] = async ({ concurrency, checksum = "none" }) => {
  const { UploadQueue, files } = window.bench;
  if (typeof UploadQueue !== "function") return { unsupported: "no UploadQueue in this build" };
  const t0 = performance.now();
  try {
    const queue = new UploadQueue({ endpoint: "/api/s3", concurrency, checksum });
    queue.add(files);
    const { done, failed } = await queue.start();
    const seconds = (performance.now() - t0) / 1000;
    return {
      seconds,
      objects: done.map((d) => ({ name: d.name, key: d.key })),
      failed: failed.map((f) => ({ name: f.name, error: `${f.error?.code ?? "Error"}: ${f.error?.message ?? f.error}` })),
    };
  } catch (e) {
    throw new Error(`${e?.code ?? "Error"}: ${e?.message ?? e}`);
  }
};
