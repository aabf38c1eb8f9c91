// Many files, the baseline: plain fetch, `concurrency` uploads in flight
// across all the picked files (window.bench.files, in order), nothing else
// (no retries beyond one on a network error, no state, no progress).
//
// - A file up to `threshold` bytes: one request for its upload parameters
//   (GET /api/s3/params?filename=&type=&size=), then one upload as the
//   answer says: `{ method: "PUT", url, headers }` is a PUT of the file with
//   exactly those headers; `{ method: "POST", url, fields }` a form POST.
// - A larger file: multipart through the Companion routes, as the
//   single-file raw client does (create, sign each part when its slot
//   opens, PUT, complete); its parts share the same pool of slots.
//
// Answers { seconds, objects: [{ name, key }], failed: [{ name, error }] }.

(window.benchClients ??= {})["files-raw"] = async ({ partSize, concurrency, threshold }) => {
  const files = window.bench.files;
  const api = "/api/s3";
  const objects = [];
  const failed = [];
  let retries = 0;

  const json = async (response, what) => {
    if (!response.ok) throw new Error(`${what}: ${response.status} ${(await response.text()).slice(0, 200)}`);
    return response.json();
  };
  // One retry on a network error: Chromium does not retry a PUT whose
  // reused connection the store had closed (seen here).
  const send = async (url, init, what) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(url, init);
        if (!res.ok) throw Object.assign(new Error(`${what}: ${res.status} ${(await res.text()).slice(0, 200)}`), { http: true });
        return res;
      } catch (e) {
        if (e.http || attempt > 0) throw e;
        retries++;
      }
    }
  };

  const single = async (file) => {
    const q = new URLSearchParams({ filename: file.name, type: file.type, size: String(file.size) });
    const params = await json(await fetch(`${api}/params?${q}`), "params");
    if (params.method === "POST" || (params.fields && Object.keys(params.fields).length > 0)) {
      const form = new FormData();
      for (const [k, v] of Object.entries(params.fields)) form.set(k, v);
      form.set("file", file);
      await send(params.url, { method: "POST", body: form }, "POST");
      return params.key ?? params.fields.key;
    }
    await send(params.url, { method: params.method ?? "PUT", headers: params.headers ?? {}, body: file }, "PUT");
    return params.key;
  };

  // The jobs, in file order: one per small file, one per part of a big one.
  const jobs = [];
  for (const file of files) {
    if (file.size <= threshold) {
      jobs.push({ name: file.name, run: async () => objects.push({ name: file.name, key: await single(file) }) });
      continue;
    }
    const count = Math.ceil(file.size / partSize);
    const big = { created: null, etags: new Array(count), left: count };
    const create = async () => {
      const created = await json(
        await fetch(`${api}/multipart`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ filename: file.name, type: file.type, metadata: {} }),
        }),
        "create",
      );
      return { ...created, q: `key=${encodeURIComponent(created.key)}` };
    };
    for (let n = 1; n <= count; n++) {
      const run = async () => {
        big.created ??= create();
        const { uploadId, key, q } = await big.created;
        const { url } = await json(await fetch(`${api}/multipart/${uploadId}/${n}?${q}`), `sign ${n}`);
        const body = file.slice((n - 1) * partSize, Math.min(file.size, n * partSize));
        const res = await send(url, { method: "PUT", body }, `PUT ${n}`);
        big.etags[n - 1] = res.headers.get("ETag");
        if (--big.left > 0) return;
        const parts = big.etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
        await send(
          `${api}/multipart/${uploadId}/complete?${q}`,
          { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ parts }) },
          "complete",
        );
        objects.push({ name: file.name, key });
      };
      jobs.push({ name: file.name, run });
    }
  }

  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      try {
        await job.run();
      } catch (e) {
        // a big file's later parts still go (no state to stop them); one entry per file
        if (!failed.some((f) => f.name === job.name)) failed.push({ name: job.name, error: String(e?.message ?? e) });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, objects, failed, notes: retries ? [`${retries} request(s) retried after a network error`] : [] };
};
