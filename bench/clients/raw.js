// The baseline: plain fetch PUTs of Blob.slice parts to presigned URLs from
// the dev server's Companion routes, `concurrency` at a time, nothing else
// (no retries beyond one on a network error, no state, no progress).

(window.benchClients ??= {}).raw = async ({ partSize, concurrency }) => {
  const { file } = window.bench;
  const api = "/api/s3/multipart";
  const t0 = performance.now();
  const created = await (
    await fetch(api, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ filename: file.name, type: "", metadata: {} }),
    })
  ).json();
  const q = `key=${encodeURIComponent(created.key)}`;
  const count = Math.ceil(file.size / partSize);
  const etags = new Array(count);
  let next = 0;
  let retries = 0;
  const worker = async () => {
    while (next < count) {
      const n = ++next;
      const { url } = await (await fetch(`${api}/${created.uploadId}/${n}?${q}`)).json();
      // One retry on a network error: Chromium does not retry a PUT whose
      // reused connection the store had closed (seen here).
      let res;
      for (let attempt = 0; !res; attempt++) {
        try {
          res = await fetch(url, { method: "PUT", body: file.slice((n - 1) * partSize, Math.min(file.size, n * partSize)) });
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
  const parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
  const done = await fetch(`${api}/${created.uploadId}/complete?${q}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ parts }),
  });
  if (!done.ok) throw new Error(`complete: ${done.status} ${await done.text()}`);
  return { seconds: (performance.now() - t0) / 1000, key: created.key, notes: retries ? [`${retries} PUT(s) retried after a network error`] : [] };
};
