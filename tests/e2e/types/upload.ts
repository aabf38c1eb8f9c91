// `Upload` as the README shows it, written as a consumer of the package
// writes it. types.test.mjs compiles it (tsc --strict) against each entry:
// the import below is rewritten to the entry checked. A `@ts-expect-error`
// line is what the types must refuse.

import init, { Upload, type ResuploadError, type UploadWarning } from "resupload";

declare const file: File;
declare const bar: HTMLProgressElement;

await init();
const endpoint = "/api/s3";
const namespace = "user-42";

/** Every code a warning can have: a code the types lack fails the switch. */
function describeWarning(warning: UploadWarning): string {
  switch (warning.code) {
    case "STORAGE_UNAVAILABLE":
    case "STORAGE_FULL":
    case "STORAGE_FAILED":
      return "the state lives in memory";
    case "CHECKSUM_UNSUPPORTED":
    case "CHECKSUM_UNVERIFIED":
      return "no checksum";
    case "LOCK_UNAVAILABLE":
      return "unlocked";
    case "STAGING_SKIPPED":
    case "STAGING_FAILED":
      return "no staged copy";
    case "FILES_UNREADABLE":
      return "files left out";
    case "CANCELLED_STORED":
      return "a cancelled file is stored";
    default: {
      const unknown: never = warning.code;
      return unknown;
    }
  }
}
// @ts-expect-error: not a warning's code (an error's)
const notAWarning: UploadWarning["code"] = "STORAGE";

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
  onWarning(w) { console.log(describeWarning(w), w.message); },
  onRestart({ reason }) {
    switch (reason) {
      case "expired":
        console.log("the server no longer had it");
        break;
      case "file-changed":
        console.log("the file changed");
        break;
      default: {
        const unknown: never = reason;
        console.log(unknown);
      }
    }
    // @ts-expect-error: no such reason
    if (reason === "aborted") console.log(reason);
  },
  onExpiringSoon({ uploadId, expiresAt }) { console.log(uploadId, expiresAt); },
  onPartBookkeeping({ partNumber, ms, blockingMs }) { console.log(partNumber, ms, blockingMs); },
  stage: "opfs",
  lock: "wait",
});

try {
  const { key, uploadId, location, checksumSha256 } = await upload.start();
  console.log(key, uploadId, location, checksumSha256);
} catch (e) {
  const error = e as ResuploadError;
  if (error.code === "PAUSED" || error.code === "HTTP_STATUS") console.log(error.status);
  const badObject: string | undefined = error.code === "CHECKSUM_MISMATCH" ? error.key : undefined;
  console.log(badObject);
  // @ts-expect-error: no such code (a typo of a code is caught)
  if (error.code === "PAUSE") console.log(error);
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
