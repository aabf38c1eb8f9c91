// A signing backend and "store" answered locally, for the benchmarks that
// measure resupload's own costs (resume latency, per-part bookkeeping) and
// not the network's: the Companion routes under /api/s3 answer at once from
// memory, and part PUTs are read and acknowledged without being kept.
//
// It is a measuring instrument, not a store: uploads are never assembled.
// Throughput and integrity are measured against Garage (bench/run.mjs).

import { createHash } from "node:crypto";
import http from "node:http";

export async function startFakeBackend() {
  const uploads = new Map(); // uploadId -> { key, checksums, listed: [{PartNumber, Size, ETag, ChecksumSHA256?}] }
  let next = 1;
  const state = {
    url: null,
    /** PUTs seen (as they arrive): { uploadId, partNumber, size, at } */
    puts: [],
    /** When set, PUTs are read but never answered (a run stalled on the wire). */
    holdPuts: false,
    held: [],
    /** Makes the server "hold" parts 1..count of `uploadId`, each `size` bytes. */
    holdParts(uploadId, count, size, checksum) {
      const upload = uploads.get(uploadId);
      upload.listed = Array.from({ length: count }, (_, i) => ({
        PartNumber: i + 1,
        Size: size,
        ETag: `"fake-${i + 1}"`,
        ...(checksum && upload.checksums ? { ChecksumSHA256: checksum } : {}),
      }));
    },
    releaseHeld() {
      for (const res of state.held.splice(0)) res.destroy();
    },
    async stop() {
      state.releaseHeld();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };

  const cors = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, PUT, POST, DELETE, OPTIONS",
    "access-control-allow-headers": "*",
    "access-control-expose-headers": "ETag, x-amz-checksum-sha256",
    "access-control-max-age": "600",
  };
  const json = (res, status, body) => {
    res.writeHead(status, { ...cors, "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks)));
      req.on("error", reject);
    });

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const parts = url.pathname.split("/").filter(Boolean); // api s3 multipart ...
    try {
      if (req.method === "OPTIONS") {
        res.writeHead(204, cors);
        return res.end();
      }
      if (req.method === "PUT" && parts[0] === "put") {
        const put = { uploadId: parts[1], partNumber: Number(parts[2]), size: 0, at: Date.now() };
        state.puts.push(put);
        if (state.holdPuts) {
          req.resume();
          return void state.held.push(res);
        }
        // Drain the body without keeping it.
        for await (const chunk of req) put.size += chunk.length;
        res.writeHead(200, { ...cors, etag: `"fake-${parts[2]}"` });
        return res.end();
      }
      if (parts[0] !== "api" || parts[1] !== "s3" || parts[2] !== "multipart") return json(res, 404, { error: "not found" });
      const uploadId = parts[3];
      if (req.method === "POST" && !uploadId) {
        const body = JSON.parse((await readBody(req)).toString() || "{}");
        const id = `fake-${next++}`;
        const checksums = body.checksumAlgorithm === "SHA256";
        uploads.set(id, { key: `bench/${id}/${body.filename}`, checksums, listed: [] });
        return json(res, 200, { key: uploads.get(id).key, uploadId: id, ...(checksums ? { checksumAlgorithm: "SHA256" } : {}) });
      }
      const upload = uploads.get(uploadId);
      if (!upload) return json(res, 404, { error: { code: "NoSuchUpload", message: "unknown upload" } });
      if (req.method === "GET" && parts.length === 4) return json(res, 200, upload.listed);
      if (req.method === "GET" && parts.length === 5) {
        return json(res, 200, { url: `${state.url}/put/${uploadId}/${parts[4]}`, expires: 900 });
      }
      if (req.method === "POST" && parts[4] === "complete") {
        await readBody(req);
        return json(res, 200, { location: `${state.url}/${upload.key}` });
      }
      if (req.method === "DELETE") {
        uploads.delete(uploadId);
        return json(res, 200, {});
      }
      return json(res, 404, { error: "no such route" });
    } catch (error) {
      json(res, 500, { error: String(error) });
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${server.address().port}`;
  return state;
}

/** Base64 SHA-256 of `size` zero bytes (a sparse file's parts). */
export function zeroChecksum(size) {
  return createHash("sha256").update(Buffer.alloc(size)).digest("base64");
}
