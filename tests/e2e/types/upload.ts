// `Upload` as the README shows it, written as a consumer of the package
// writes it. types.test.mjs compiles it (tsc --strict) against each entry:
// the import below is rewritten to the entry checked. A `@ts-expect-error`
// line is what the types must refuse.

import init, { Upload } from "resupload";

declare const file: File;
declare const bar: HTMLProgressElement;

await init();
const endpoint = "/api/s3";
const namespace = "user-42";

const upload = new Upload(file, {
  endpoint,
  partSize: 8 * 2 ** 20,
  concurrency: 4,
  namespace,
  metadata: { project: "x" },
  retryDelays: [0, 1000, 3000, 5000],
  checksum: "sha256",
  verifyOnResume: true,
  onProgress(p) { bar.value = p.sentBytes / p.totalBytes; },
  onPartComplete({ partNumber, size, etag }) { console.log(partNumber, size, etag.length); },
  onResume({ uploadId, skippedParts, skippedBytes, source }) { console.log(uploadId, skippedParts, skippedBytes, source satisfies "local" | "backend"); },
  onWarning(w) { console.log(w.code, w.message); },
  onRestart({ reason }) { console.log(reason); },
  onExpiringSoon({ uploadId, expiresAt }) { console.log(uploadId, expiresAt); },
  onPartBookkeeping({ partNumber, ms, blockingMs }) { console.log(partNumber, ms, blockingMs); },
  stage: "opfs",
  lock: "wait",
});

try {
  const { key, uploadId, location, checksumSha256 } = await upload.start();
  console.log(key, uploadId, location, checksumSha256);
} catch (e) {
  console.log(e);
}
upload.pause();
await upload.abort();

// The lookups (in `resupload` they reject with NOT_IN_BUILD, typed so).
await Upload.findPrevious(file, { endpoint, namespace });
await Upload.findPrevious(file);
await Upload.listPending({ namespace });
await Upload.listPending();
await Upload.clearPending({ namespace });
await Upload.clearPending();
