// The lookups of `Upload` as the README shows them (resume without
// picking), against `resupload/pending` and `resupload/queue` (the import is
// rewritten to the entry checked; see upload.ts).

import init, { Upload, type PendingUpload, type UploadProgress } from "resupload/pending";

declare const file: File;
declare const button: HTMLButtonElement;
declare const onProgress: (progress: UploadProgress) => void;

await init();

for (const entry of await Upload.listPending()) {
  if (entry.running) continue;
  if (entry.canResumeWithoutPicking) {
    console.log(entry.resumeFrom);
    button.onclick = async () => {
      try {
        await (await Upload.resumePending(entry, { onProgress })).start();
        await (await Upload.resumePending(entry)).start();
      } catch (e) {
        console.log(e);
      }
    };
  }
}
const found: PendingUpload | null = await Upload.findPrevious(file, { endpoint: "/api/s3", namespace: "user-42" });
const anywhere: PendingUpload | null = await Upload.findPrevious(file);
const listed: PendingUpload[] = await Upload.listPending({ namespace: "user-42" });
const cleared: number = await Upload.clearPending();
const clearedThere: number = await Upload.clearPending({ namespace: "user-42", headers: { authorization: "Bearer t" } });
console.log(found, anywhere, listed, cleared, clearedThere);
