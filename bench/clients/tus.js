// tus-js-client against @tus/server + @tus/file-store (run by the bench in
// Node on loopback): another protocol, for reference. `parallelUploads` > 1
// needs the server's concatenation extension; the bench passes 1 when the
// server does not announce it.

import { Upload } from "tus-js-client";

(window.benchClients ??= {}).tus = async ({ partSize, tag, tus }) => {
  const { file } = window.bench;
  const t0 = performance.now();
  const url = await new Promise((resolve, reject) => {
    const upload = new Upload(file, {
      endpoint: tus.endpoint,
      chunkSize: partSize,
      parallelUploads: tus.parallelUploads,
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: true,
      retryDelays: [0, 1000, 3000],
      metadata: { filename: file.name, tag },
      onError: (e) => reject(new Error(`tus: ${e?.message ?? e}`)),
      onSuccess: () => resolve(upload.url),
    });
    upload.start();
  });
  return { seconds: (performance.now() - t0) / 1000, url };
};
