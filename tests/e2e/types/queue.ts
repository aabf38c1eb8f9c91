// `UploadQueue` as the README shows it, against `resupload/queue` (see
// upload.ts). Its options are `new Upload`'s but those no queue reads.

import init, { UploadQueue, type PendingQueue, type UploadQueueResult } from "resupload/queue";

declare const folderInput: HTMLInputElement;
declare const file: File;

await init();
const endpoint = "/api/s3";

const queue = new UploadQueue({
  endpoint,
  concurrency: 6,
  onProgress({ files, bytes, bytesPerSecond, etaSeconds }) { console.log(files.total, files.done, files.failed, bytes.sent, bytes.confirmed, bytes.total, bytesPerSecond, etaSeconds); },
  onFile({ index, name, relativePath, file, key, skipped, cancelled, error }) { console.log(index, name, relativePath, file, key, skipped, cancelled, error?.code); },
});
await queue.add(folderInput.files);
const { done, failed, cancelled }: UploadQueueResult = await queue.start();
console.log(done, failed, cancelled);
queue.pause();
await queue.resume();
const one: boolean = await queue.cancel(file);
const byIndex: boolean = await queue.cancel(0);
const all: boolean = await queue.cancel();
console.log(one, byIndex, all, queue.length, queue.files);
// A plain Blob is a file of a queue too: added, cancelled and reported as itself.
const blob = new Blob(["bytes"]);
await queue.add([blob]);
const byBlob: boolean = await queue.cancel(blob);
const kept: (File | Blob)[] = queue.files;
console.log(byBlob, kept);
new UploadQueue({
  endpoint,
  // @ts-expect-error: a queue's file may be a Blob, which has no lastModified
  onFile({ file }) { console.log(file.lastModified); },
});
// @ts-expect-error: a file is a File or an index, not its name
await queue.cancel("photo.jpg");

for (const entry of await UploadQueue.listPending()) {
  if (entry.canResumeWithoutPicking && !entry.running) await (await UploadQueue.resumePending(entry)).start();
}
const listed: PendingQueue[] = await UploadQueue.listPending({ namespace: "user-42" });
console.log(listed);

// The options a queue reads, besides those above.
new UploadQueue({
  endpoint,
  partSize: 16 * 2 ** 20,
  maxConcurrency: 12,
  namespace: "user-42",
  metadata: { project: "x" },
  retryDelays: [0, 1000],
  maxObjectSize: 2 ** 40,
  expiresAfter: 24 * 3600 * 1000,
  stallTimeout: 60_000,
  headers: async ({ refresh }) => ({ authorization: refresh ? "Bearer new" : "Bearer old" }),
  onWarning({ code, message, key }) { console.log(code, message, key); },
  lock: "wait",
  checksum: "none",
  verifyOnResume: false,
  singleRequestLimit: 2 ** 20,
});

// Those of `new Upload` that no queue reads: each one is refused.
// @ts-expect-error: a queue tells no part's completion
new UploadQueue({ endpoint, onPartComplete() {} });
// @ts-expect-error: a queue tells no file's resume
new UploadQueue({ endpoint, onResume() {} });
// @ts-expect-error: a queue tells no restart
new UploadQueue({ endpoint, onRestart() {} });
// @ts-expect-error: a queue tells no expiry
new UploadQueue({ endpoint, onExpiringSoon() {} });
// @ts-expect-error: nor how long it kept its books
new UploadQueue({ endpoint, onPartBookkeeping() {} });
// @ts-expect-error: so it has no time before expiry to warn at
new UploadQueue({ endpoint, expiryWarning: 3600_000 });
// @ts-expect-error: a queue stages no copy
new UploadQueue({ endpoint, stage: "opfs" });
// @ts-expect-error: not in a queue resumed without picking either
await UploadQueue.resumePending(listed[0], { onRestart() {} });
