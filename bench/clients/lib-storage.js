// The AWS SDK v3: @aws-sdk/lib-storage's Upload over an S3Client that talks
// to Garage directly with the bucket's key (fine for a benchmark, never for
// an app). No checksums unless required (the SDK's default CRC32 is not
// what the others do), path-style addressing, region "garage".

import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

(window.benchClients ??= {})["lib-storage"] = async ({ partSize, concurrency, tag, s3 }) => {
  const { file } = window.bench;
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const key = `bench/lib-storage/${tag}/${file.name}`;
  const t0 = performance.now();
  try {
    const upload = new Upload({
      client,
      params: { Bucket: s3.bucket, Key: key, Body: file },
      queueSize: concurrency,
      partSize,
      leavePartsOnError: false,
    });
    await upload.done();
    return { seconds: (performance.now() - t0) / 1000, key };
  } finally {
    client.destroy();
  }
};
