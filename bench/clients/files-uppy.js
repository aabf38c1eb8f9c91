// Many files with Uppy: @uppy/core + @uppy/aws-s3 against the dev server's
// Companion-compatible routes (`companionEndpoint` = <origin>/api), `limit`
// files at once, files up to `threshold` bytes by its own small-file path
// (`shouldUseMultipart: (file) => file.size > threshold`: GET /s3/params,
// then an upload as the answer says), larger ones multipart with
// `partSize` parts (one part at a time per file in @uppy/aws-s3 6.x).
//
// Answers { seconds, objects: [{ name, key }], failed: [{ name, error }] }.

import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";

(window.benchClients ??= {})["files-uppy"] = async ({ partSize, concurrency, threshold, tag }) => {
  const files = window.bench.files;
  const t0 = performance.now();
  const uppy = new Uppy({ id: `bench-files-${tag}`, autoProceed: false });
  uppy.use(AwsS3, {
    companionEndpoint: `${location.origin}/api`,
    shouldUseMultipart: (file) => file.size > threshold,
    getChunkSize: () => partSize,
    limit: concurrency,
  });
  try {
    uppy.addFiles(files.map((file) => ({ name: file.name, type: file.type || "application/octet-stream", data: file, source: "bench" })));
    const result = await uppy.upload();
    const seconds = (performance.now() - t0) / 1000;
    const objects = (result?.successful ?? []).map((f) => ({ name: f.name, key: f.response?.body?.key }));
    const failed = (result?.failed ?? []).map((f) => ({ name: f.name, error: String(f.error?.message ?? f.error ?? "failed") }));
    return { seconds, objects, failed };
  } finally {
    uppy.destroy();
  }
};
