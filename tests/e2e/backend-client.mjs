// Plain HTTP calls to the dev server's routes from Node, for the backend
// tests (backend.test.mjs, auth.test.mjs): no browser, real answers.

import { createHmac, randomBytes, sign } from "node:crypto";

import { S3Client } from "@aws-sdk/client-s3";

import { withTimeout } from "./harness.mjs";

/**
 * An S3 client of the stack's store (`stack.storeEnv`), as another app, an
 * operator or a lifecycle rule would reach it; `destroy()` it when done.
 * `options` are added (`requestChecksumCalculation`, …).
 */
export function storeClient(storeEnv, options = {}) {
  return new S3Client({
    endpoint: storeEnv.S3_ENDPOINT,
    region: storeEnv.S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: storeEnv.S3_ACCESS_KEY_ID, secretAccessKey: storeEnv.S3_SECRET_ACCESS_KEY },
    ...options,
  });
}

/** A random sample digest: 64 lowercase hex digits. */
export const randomSample = () => randomBytes(32).toString("hex");

/**
 * Calls a route: answers `{ status, json, text, headers }`. `body` is sent as
 * JSON when it is not a string.
 */
export async function call(base, method, route, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["content-type"] ??= "application/json";
  }
  const response = await withTimeout(fetch(new URL(route, base), init), 30_000, `${method} ${route}`);
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, json, text, headers: response.headers };
}

/** The routes of one upload, with `headers` (credentials) on every call. */
export function routesOf(base, headers = {}) {
  const q = (key) => `key=${encodeURIComponent(key)}`;
  const u = (uploadId) => `/api/s3/multipart/${encodeURIComponent(uploadId)}`;
  return {
    create: (body) => call(base, "POST", "/api/s3/multipart", { body: { type: "", metadata: {}, ...body }, headers }),
    sign: (up, n, extra = "") => call(base, "GET", `${u(up.uploadId)}/${n}?${q(up.key)}${extra}`, { headers }),
    batch: (up, numbers) => call(base, "GET", `${u(up.uploadId)}/batch?${q(up.key)}&partNumbers=${numbers.join(",")}`, { headers }),
    list: (up) => call(base, "GET", `${u(up.uploadId)}?${q(up.key)}`, { headers }),
    complete: (up, parts) => call(base, "POST", `${u(up.uploadId)}/complete?${q(up.key)}`, { body: { parts }, headers }),
    completed: (up) => call(base, "GET", `${u(up.uploadId)}/complete?${q(up.key)}`, { headers }),
    abort: (up) => call(base, "DELETE", `${u(up.uploadId)}?${q(up.key)}`, { headers }),
    lookup: ({ name, size, sample, namespace }) => {
      const params = new URLSearchParams({ name, size: String(size), sample });
      if (namespace !== undefined) params.set("namespace", namespace);
      return call(base, "GET", `/api/s3/multipart/lookup?${params}`, { headers });
    },
  };
}

/** PUTs `bytes` to a presigned part URL, with `headers` (the signed checksum's); answers the ETag. */
export async function putPart(url, bytes, headers = {}) {
  const response = await withTimeout(fetch(url, { method: "PUT", body: bytes, headers }), 60_000, "a part PUT");
  const text = await response.text();
  if (!response.ok) throw new Error(`part PUT answered ${response.status}: ${text}`);
  return response.headers.get("etag");
}

/** The uploads table of a dev server (debug route): its rows. */
export async function rows(base) {
  const r = await call(base, "GET", "/api/debug/rows");
  if (r.status !== 200) throw new Error(`/api/debug/rows answered ${r.status}: ${r.text}`);
  return r.json.rows;
}

/** The store's multipart uploads in progress (debug route): their upload ids, sorted. */
export async function storeUploads(base) {
  const r = await call(base, "GET", "/api/debug/uploads");
  if (r.status !== 200) throw new Error(`/api/debug/uploads answered ${r.status}: ${r.text}`);
  return r.json.uploads.map((u) => u.uploadId).sort();
}

const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** An HS256 JWT of `claims`, signed with `secret`. */
export function hs256Jwt(claims, secret) {
  const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** An RS256 JWT of `claims`, signed with an RSA private key (a KeyObject or PEM). */
export function rs256Jwt(claims, privateKey) {
  const input = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;
}

/** Seconds since the epoch, `offset` from now. */
export const epoch = (offset = 0) => Math.floor(Date.now() / 1000) + offset;
