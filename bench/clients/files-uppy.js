// Many files with Uppy: @uppy/core + @uppy/aws-s3, `limit` files at once
// (one part at a time per file in @uppy/aws-s3 6.x), against the dev
// server's routes. Three ways (`mode`):
//
// - "companion": `companionEndpoint` = <origin>/api, files up to
//   `threshold` bytes by its small-file path (`shouldUseMultipart: (file) =>
//   file.size > threshold`), larger ones multipart. Its Companion client
//   asks GET /s3/params and always sends a form POST with the answered
//   `fields` (it needs `fields.key`): against a backend that answers a
//   presigned PUT instead, every small file fails.
// - "put": Uppy's `signRequest` option for its own PutObject path: the
//   function asks GET /api/s3/params and hands Uppy `{ url, key, headers }`,
//   which it PUTs. Only small files: a multipart upload through
//   `signRequest` needs raw S3 requests signed, which these routes do not do.
// - "multipart": `companionEndpoint`, every file multipart (create, sign,
//   PUT, complete: three calls to the backend per small file).
//
// Answers { seconds, objects: [{ name, key }], failed: [{ name, error }] }.

import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";

(window.benchClients ??= {})["files-uppy"] = async ({ partSize, concurrency, threshold, tag, mode = "companion" }) => {
  const files = window.bench.files;
  if (mode === "put" && files.some((f) => f.size > threshold)) {
    return { unsupported: "multipart through signRequest needs raw S3 requests signed" };
  }
  const t0 = performance.now();
  const uppy = new Uppy({ id: `bench-files-${tag}`, autoProceed: false });
  const common = { getChunkSize: () => partSize, limit: concurrency };
  if (mode === "put") {
    uppy.use(AwsS3, {
      ...common,
      shouldUseMultipart: false,
      signRequest: async ({ method, key, contentType }) => {
        if (method !== "PUT") throw new Error(`signRequest: ${method} is not supported here`);
        const q = new URLSearchParams({ filename: key, type: contentType ?? "" });
        const res = await fetch(`/api/s3/params?${q}`);
        if (!res.ok) throw new Error(`params: ${res.status}`);
        const params = await res.json();
        return { url: params.url, key: params.key, headers: params.headers };
      },
    });
  } else {
    uppy.use(AwsS3, {
      ...common,
      companionEndpoint: `${location.origin}/api`,
      shouldUseMultipart: mode === "multipart" ? true : (file) => file.size > threshold,
    });
  }
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
