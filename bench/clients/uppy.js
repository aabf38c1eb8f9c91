// Uppy: @uppy/core with @uppy/aws-s3 signing through the dev server's
// Companion-compatible routes (`companionEndpoint` = <origin>/api; the plugin
// appends /s3/multipart...). Multipart is forced, parts are `partSize`, and
// `limit` is `concurrency` (in @uppy/aws-s3 6.x `limit` is how many *files*
// upload at once; one file's parts go one after another).

import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";

(window.benchClients ??= {}).uppy = async ({ partSize, concurrency, tag }) => {
  const { file } = window.bench;
  const t0 = performance.now();
  const uppy = new Uppy({ id: `bench-${tag}`, autoProceed: false });
  uppy.use(AwsS3, {
    companionEndpoint: `${location.origin}/api`,
    shouldUseMultipart: true,
    getChunkSize: () => partSize,
    limit: concurrency,
  });
  try {
    uppy.addFile({ name: file.name, type: file.type || "application/octet-stream", data: file, source: "bench" });
    const result = await uppy.upload();
    const failed = result?.failed ?? [];
    if (failed.length > 0) throw new Error(`uppy: ${failed[0].error ?? "the upload failed"}`);
    const done = result?.successful?.[0];
    if (!done) throw new Error("uppy: no successful upload in the result");
    return { seconds: (performance.now() - t0) / 1000, key: done.response?.body?.key };
  } finally {
    uppy.destroy();
  }
};
