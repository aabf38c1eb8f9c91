// resupload, as an app would use it: `new Upload(file, options).start()`.
// `window.bench.Upload` comes from /pkg/resupload.js (loaded by the bench,
// so the page and the memory section share one wasm instance);
// `build: "queue"` takes the Upload of /pkg/queue/resupload.js instead.

(window.benchClients ??= {}).resupload = async ({ partSize, concurrency, tag, checksum, build }) => {
  const { file } = window.bench;
  const Upload = build === "queue" ? window.bench.QueueBuildUpload : window.bench.Upload;
  const options = { endpoint: "/api/s3", partSize, concurrency, namespace: `bench-${tag}` };
  if (checksum !== undefined) options.checksum = checksum;
  const t0 = performance.now();
  try {
    const upload = new Upload(file, options);
    const { key } = await upload.start();
    return { seconds: (performance.now() - t0) / 1000, key };
  } catch (e) {
    if (e?.code === "INVALID_OPTION" && checksum !== undefined && /checksum/i.test(String(e.message))) {
      return { unsupported: `the checksum option was rejected: ${e.message}` };
    }
    throw new Error(`${e?.code ?? "Error"}: ${e?.message ?? e}`);
  }
};
