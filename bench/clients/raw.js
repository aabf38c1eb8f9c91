// The baseline: plain fetch PUTs of Blob.slice parts to presigned URLs from
// the dev server's Companion routes, `concurrency` at a time, nothing else
// (no retries beyond one on a network error, no state, no progress).

//
// With `checksum: true` ("raw-sha256"), the same with what checksums cost
// anyway: the upload is created with checksumAlgorithm SHA256, each part is
// read whole and hashed by WebCrypto on the page's thread, the URL signs the
// checksum, the PUT carries it (and Garage checks it), and the complete call
// names every part's checksum. The floor for any client with checksums here.
//
// With `presign: true` (the emulated-link section's "ceiling" row), the
// upload is created and every part's URL signed before the clock starts, so
// the timed part is the PUTs and the complete call only: what the link
// gives `concurrency` PUTs at a time with no round trip in between.

(window.benchClients ??= {}).raw = async ({ partSize, concurrency, checksum = false, presign = false }) => {
  const { file } = window.bench;
  const api = "/api/s3/multipart";
  let t0 = performance.now();
  const created = await (
    await fetch(api, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ filename: file.name, type: "", metadata: {}, ...(checksum && { checksumAlgorithm: "SHA256" }) }),
    })
  ).json();
  if (checksum && created.checksumAlgorithm !== "SHA256") throw new Error("the backend did not confirm SHA-256 checksums");
  const sums = new Array(Math.ceil(file.size / partSize));
  const q = `key=${encodeURIComponent(created.key)}`;
  const count = Math.ceil(file.size / partSize);
  const etags = new Array(count);
  let next = 0;
  let retries = 0;
  const signedUrls = [];
  if (presign) {
    if (checksum) throw new Error("presign and checksum together are not supported");
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let n = w + 1; n <= count; n += concurrency) signedUrls[n - 1] = (await (await fetch(`${api}/${created.uploadId}/${n}?${q}`)).json()).url;
      }),
    );
    t0 = performance.now();
  }
  const worker = async () => {
    while (next < count) {
      const n = ++next;
      const body = file.slice((n - 1) * partSize, Math.min(file.size, n * partSize));
      let sum = "";
      if (checksum) {
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await body.arrayBuffer()));
        sums[n - 1] = sum = btoa(String.fromCharCode(...digest));
      }
      const signed = checksum ? `&checksumSha256=${encodeURIComponent(sum)}` : "";
      const url = presign ? signedUrls[n - 1] : (await (await fetch(`${api}/${created.uploadId}/${n}?${q}${signed}`)).json()).url;
      // One retry on a network error: Chromium does not retry a PUT whose
      // reused connection the store had closed (seen here).
      let res;
      for (let attempt = 0; !res; attempt++) {
        try {
          res = await fetch(url, { method: "PUT", body, ...(checksum && { headers: { "x-amz-checksum-sha256": sum } }) });
        } catch (e) {
          if (attempt > 0) throw new Error(`PUT ${n}: ${e}`);
          retries++;
        }
      }
      if (!res.ok) throw new Error(`PUT ${n}: ${res.status}`);
      etags[n - 1] = res.headers.get("ETag");
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag, ...(checksum && { ChecksumSHA256: sums[i] }) }));
  const done = await fetch(`${api}/${created.uploadId}/complete?${q}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ parts }),
  });
  if (!done.ok) throw new Error(`complete: ${done.status} ${await done.text()}`);
  return { seconds: (performance.now() - t0) / 1000, key: created.key, notes: retries ? [`${retries} PUT(s) retried after a network error`] : [] };
};
