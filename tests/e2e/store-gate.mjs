// A pass-through HTTP proxy in front of the S3 store that tests use to hold
// part uploads back at a chosen point, so that a reload, a pause or a cancel
// happens mid-upload deterministically, whatever the browser.
//
// The dev server is given the gate's URL as S3_ENDPOINT, so the part URLs it
// presigns point at the gate. Requests are forwarded byte for byte with their
// Host header unchanged: the store checks the signature against the host the
// URL was signed for, which is the gate's, so signatures stay valid.
//
// Whole files sent in one request (an upload queue's small files: a PUT of
// the object, or a POST form) are held, counted and faulted the same way,
// as partNumber 0 with their key.
//
// A held part PUT is not forwarded: the store never sees it. Its body is read
// into memory meanwhile (at most concurrency x part size): a socket nobody
// reads from would never report that the browser closed it. If the browser
// gives up on the request (reload, pause, cancel), the connection closes and
// the request is dropped; if the gate is released first, it is forwarded.
//
// The dev server's own requests to the store (CreateMultipartUpload,
// ListParts, CompleteMultipartUpload, AbortMultipartUpload, HeadObject...)
// can be faulted too, by method, query parameter and key (`injectRequest`):
// answered by the gate instead of the store, or forwarded and the store's
// answer then cut off or held back, so that the store has done what it was
// asked while the server has not heard of it (yet).

import http from "node:http";
import { PassThrough, Transform } from "node:stream";

import { closeNow, listenOnLoopback } from "./loopback.mjs";

/** Buffers a held body without ever pushing back on the socket. */
const HOLD_BUFFER = 2 ** 31;
/** Requests that carry no body, so the gate can send them again. */
const BODILESS = new Set(["GET", "HEAD"]);

export class StoreGate {
  /** How many requests each browser connection carried. */
  #requestsOn = new WeakMap();

  /** @param {string} upstream the store's base URL, like http://127.0.0.1:3900 */
  constructor(upstream) {
    const url = new URL(upstream);
    this.upstreamHost = url.hostname;
    this.upstreamPort = Number(url.port || 80);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.keepAliveTimeout = 5_000;
    /** Part PUTs let through before holding; Infinity: never hold. */
    this.allowance = Infinity;
    /** Every part PUT seen, and every whole file sent in one request
     *  (partNumber 0, its `key`; a POST form's key is null): { partNumber,
     *  uploadId, key, size, state, status, fault } where state is "held", "forwarded", "done" (2xx from the
     *  store), "failed" (other answer or error) or "dropped" (held, then
     *  closed by the browser; a stalled one's close time in `droppedAt`); fault names the fault applied, if any
     *  ("corrupt" records the offset flipped in `corruptAt`). */
    this.partPuts = [];
    this.held = [];
    /** Faults waiting for the next single-request uploads: [{ keySuffix, fault }]. */
    this.fileFaults = [];
    /** Faults waiting for their part's next PUTs: partNumber -> [fault]. */
    this.faults = new Map();
    /** Faults waiting for the next requests they match: [{ match, fault, resolve }]. */
    this.requestFaults = [];
    this.url = null;
  }

  /**
   * Makes the next PUTs of `partNumber` fail, one fault per PUT, in order:
   * - `{ status, body, headers }`: answer that instead of the store;
   * - `{ reset: bytes }`: cut the connection after `bytes` of the body
   *   (on a kept-alive connection, its next PUT too: the browser's own
   *   resend on a new connection, so that the page sees the error);
   * - `{ stall: true }`: read the body and never answer;
   * - `{ dropEtag: true }`: forward, but strip the answer's ETag header;
   * - `{ throttle: bytesPerSecond }`: forward, reading the body no faster;
   * - `{ corrupt: true }` or `{ corrupt: offset }`: forward, with the byte at
   *   `offset` of the body (default: the middle, `floor(size / 2)`) xored
   *   with 0xff and Content-Length unchanged, so the store gets wrong bytes
   *   of the right length; with a signed `x-amz-checksum-sha256` it answers
   *   400 InvalidDigest, which goes back to the browser as is. An offset
   *   past the body's end flips nothing.
   */
  inject(partNumber, ...faults) {
    this.faults.set(partNumber, [...(this.faults.get(partNumber) ?? []), ...faults]);
  }

  /**
   * Makes the next single-request uploads (PUT of a whole object) whose
   * key ends with `keySuffix` fail, one fault per request, as `inject`.
   */
  injectFile(keySuffix, ...faults) {
    this.fileFaults.push(...faults.map((fault) => ({ keySuffix, fault })));
  }

  /**
   * Makes the next request that matches `{ method, query, keySuffix }` fail
   * with `fault`: any request, the dev server's own included (checked
   * before part PUTs and whole files). `method` must be the request's;
   * `query`, if given, a parameter its URL has (like `"uploadId"`);
   * `keySuffix`, if given, the end of its object key (the path after the
   * bucket, decoded). Faults:
   * - `{ status, body, headers }`: answer that instead of the store (the
   *   store never sees the request);
   * - `{ cutAnswer: true }`: forward it, read the store's whole answer,
   *   then cut the connection without passing any of it on: the store did
   *   what it was asked, and the sender sees its connection reset;
   * - `{ holdAnswer: promise }`: forward it, read the store's whole answer,
   *   and pass it on once `promise` settles.
   * Answers `{ answered }`: a promise of the store's status once its whole
   * answer reached the gate (for a `status` fault, that status once the
   * gate answered; never settled if the request never comes, or the store
   * does not answer).
   */
  injectRequest(match, fault) {
    let resolve;
    const answered = new Promise((settle) => {
      resolve = settle;
    });
    this.requestFaults.push({ match, fault, resolve });
    return { answered };
  }

  #requestFault(req, url) {
    const i = this.requestFaults.findIndex(({ match }) => {
      if (req.method !== match.method) return false;
      if (match.query !== undefined && !url.searchParams.has(match.query)) return false;
      if (match.keySuffix === undefined) return true;
      const key = url.pathname.slice(1).split("/").slice(1).join("/");
      return key.length > 0 && decodeURIComponent(key).endsWith(match.keySuffix);
    });
    return i < 0 ? undefined : this.requestFaults.splice(i, 1)[0];
  }

  #fileFault(key) {
    const i = key === null ? -1 : this.fileFaults.findIndex((f) => key.endsWith(f.keySuffix));
    return i < 0 ? undefined : this.fileFaults.splice(i, 1)[0].fault;
  }

  /**
   * From now on, each part PUT without a planned fault fails with
   * probability `rate`, in a way drawn from `kinds` (fault objects as for
   * `inject`), by a generator seeded with `seed`: the same seed, the same
   * draws. `null` stops it.
   */
  chaos(options) {
    if (!options) {
      this.chaotic = null;
      return;
    }
    let state = options.seed >>> 0;
    const next = () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    this.chaotic = { ...options, next };
  }

  /** The PUTs of one part number, in order. */
  putsOf(partNumber) {
    return this.partPuts.filter((p) => p.partNumber === partNumber);
  }

  async start() {
    this.url = await listenOnLoopback(this.server);
    return this.url;
  }

  /**
   * Cuts every connection the browser has to the gate, a held request's
   * too (it is dropped), as a lost link does. Firefox's offline mode
   * refuses new connections but lets a kept-alive one carry the next
   * request.
   */
  cutConnections() {
    this.server.closeAllConnections();
  }

  async stop() {
    for (const h of this.held) h.res.destroy();
    this.held = [];
    await closeNow(this.server);
    this.agent.destroy();
  }

  /** Lets `count` more part PUTs through, then holds every further one. */
  holdAfter(count) {
    this.allowance = count;
  }

  /** Stops holding; held requests still open are forwarded now. */
  release() {
    this.allowance = Infinity;
    const held = this.held;
    this.held = [];
    for (const h of held) {
      if (!h.closed) this.#forward(h.req, h.res, h.record, h.body);
    }
  }

  /** Back to letting everything through: holds released, faults not yet applied dropped. */
  reset() {
    this.release();
    this.faults.clear();
    this.fileFaults = [];
    this.requestFaults = [];
  }

  /** Held requests the browser still keeps open. */
  heldOpen() {
    return this.heldNow().length;
  }

  /** The held requests the browser keeps open now; each has `closed`, set once the browser drops it. */
  heldNow() {
    return this.held.filter((h) => !h.closed);
  }

  /** Part PUTs the store answered with 2xx (since `mark`, when given: see `mark()`). */
  completedCount(mark = 0) {
    return this.since(mark).filter((p) => p.state === "done").length;
  }

  /** A marker for `since`: part PUTs seen from now on. */
  mark() {
    return this.partPuts.length;
  }

  since(mark) {
    return this.partPuts.slice(mark);
  }

  #handle(req, res) {
    this.#requestsOn.set(req.socket, (this.#requestsOn.get(req.socket) ?? 0) + 1);
    const url = new URL(req.url, "http://gate");
    const planned = this.requestFaults.length > 0 ? this.#requestFault(req, url) : undefined;
    if (planned) {
      this.#faultRequest(req, res, planned);
      return;
    }
    const isPart = req.method === "PUT" && url.searchParams.has("partNumber") && url.searchParams.has("uploadId");
    const file = isPart ? null : wholeFile(req, url);
    if (!isPart && !file) {
      this.#forward(req, res, null);
      return;
    }
    const record = {
      partNumber: isPart ? Number(url.searchParams.get("partNumber")) : 0,
      uploadId: isPart ? url.searchParams.get("uploadId") : null,
      key: file?.key ?? null,
      size: req.headers["content-length"] === undefined ? null : Number(req.headers["content-length"]),
      state: "forwarded",
      status: null,
      at: Date.now(),
      fault: null,
    };
    this.partPuts.push(record);
    let fault = isPart ? this.faults.get(record.partNumber)?.shift() : this.#fileFault(record.key);
    if (!fault && this.chaotic && this.chaotic.next() < this.chaotic.rate) {
      const kinds = this.chaotic.kinds;
      fault = kinds[Math.floor(this.chaotic.next() * kinds.length)];
    }
    const forwards = fault && (fault.dropEtag || isCorrupt(fault) || fault.throttle);
    if (fault && !forwards) {
      this.#inject(req, res, record, fault);
      return;
    }
    if (fault && isCorrupt(fault)) {
      record.fault = "corrupt";
      record.corruptAt = typeof fault.corrupt === "number" ? fault.corrupt : record.size === null ? null : Math.floor(record.size / 2);
    }
    if (fault?.throttle) {
      record.fault = "throttle";
      record.throttle = fault.throttle;
    }
    if (this.allowance <= 0) {
      record.state = "held";
      const body = new PassThrough({ highWaterMark: HOLD_BUFFER });
      req.pipe(body);
      const h = { req, res, record, body, closed: false };
      res.on("close", () => {
        if (record.state === "held") {
          h.closed = true;
          record.state = "dropped";
        }
      });
      this.held.push(h);
      return;
    }
    this.allowance -= 1;
    if (fault?.dropEtag) record.fault = "dropEtag";
    this.#forward(req, res, record);
  }

  #inject(req, res, record, fault) {
    const cors = {
      "access-control-allow-origin": req.headers.origin ?? "*",
      "access-control-expose-headers": "ETag, Retry-After",
    };
    if (fault.status) {
      record.fault = `status ${fault.status}`;
      req.resume();
      req.on("end", () => {
        record.state = "failed";
        record.status = fault.status;
        res.writeHead(fault.status, { "content-type": "application/xml", ...cors, ...(fault.headers ?? {}) });
        res.end(fault.body ?? "");
      });
    } else if (fault.reset !== undefined) {
      record.fault = "reset";
      // Cut on a kept-alive connection before any answer, a browser sends
      // the request again by itself, on a new one: cut that too, so that
      // the page sees the error and its own retry is what is tested.
      const kept = this.#requestsOn.get(req.socket) > 1;
      if (kept && record.partNumber) this.inject(record.partNumber, fault);
      else if (kept && record.key) this.fileFaults.unshift({ keySuffix: record.key, fault });
      let seen = 0;
      req.on("data", (chunk) => {
        seen += chunk.length;
        if (seen >= fault.reset && record.state !== "failed") {
          record.state = "failed";
          req.socket.destroy();
        }
      });
    } else if (fault.stall) {
      record.fault = "stall";
      record.state = "held";
      req.resume();
      res.on("close", () => {
        record.state = "dropped";
        record.droppedAt = Date.now();
      });
    }
  }

  /** `req` sent on to the store, as it came (Host included: the signature covers it). */
  #upstream(req, agent) {
    return http.request({
      host: this.upstreamHost,
      port: this.upstreamPort,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    });
  }

  /** Applies an `injectRequest` fault to `req`. */
  #faultRequest(req, res, { fault, resolve }) {
    if (fault.status) {
      req.resume();
      req.on("end", () => {
        res.writeHead(fault.status, { "content-type": "application/xml", ...(fault.headers ?? {}) });
        res.end(fault.body ?? "");
        resolve(fault.status);
      });
      return;
    }
    // A connection of its own: nothing else waits behind a held answer.
    const upstream = this.#upstream(req, false);
    upstream.on("response", (answer) => {
      const chunks = [];
      answer.on("data", (chunk) => chunks.push(chunk));
      answer.on("end", async () => {
        resolve(answer.statusCode);
        if (fault.cutAnswer) {
          res.destroy();
          return;
        }
        await Promise.resolve(fault.holdAnswer).catch(() => {});
        res.writeHead(answer.statusCode, answer.statusMessage, answer.rawHeaders);
        res.end(Buffer.concat(chunks));
      });
    });
    upstream.on("error", () => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end("store gate: the store did not answer");
      } else {
        res.destroy();
      }
    });
    req.pipe(upstream);
  }

  #forward(req, res, record, body = req, again = false) {
    if (record) record.state = "forwarded";
    if (record?.fault === "corrupt") {
      body = body.pipe(flipByte(record));
    }
    if (record?.fault === "throttle") {
      body = body.pipe(throttled(record.throttle));
    }
    const upstream = this.#upstream(req, again ? false : this.agent);
    upstream.on("response", (answer) => {
      if (record) record.status = answer.statusCode;
      let headers = answer.rawHeaders;
      if (record?.fault === "dropEtag") {
        headers = [];
        for (let i = 0; i < answer.rawHeaders.length; i += 2) {
          if (answer.rawHeaders[i].toLowerCase() !== "etag") headers.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
        }
      }
      res.writeHead(answer.statusCode, answer.statusMessage, headers);
      answer.pipe(res);
      answer.on("end", () => {
        if (record) record.state = answer.statusCode < 300 ? "done" : "failed";
      });
    });
    upstream.on("error", () => {
      // A kept-alive connection the store had closed meanwhile (Garage
      // closes one after refusing a PUT before its body): a request without
      // a body goes again, once, on a new connection, as Node's docs advise
      // for `reusedSocket`. Others fail as the store's answer would.
      if (upstream.reusedSocket && !again && BODILESS.has(req.method) && !res.headersSent) {
        this.#forward(req, res, record, body, true);
        return;
      }
      if (record) record.state = "failed";
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end("store gate: the store did not answer");
      } else {
        res.destroy();
      }
    });
    // The browser gave up: do not leave the store waiting for the body.
    res.on("close", () => {
      if (!res.writableFinished) {
        if (record && record.state === "forwarded") record.state = "failed";
        upstream.destroy();
      }
    });
    if (again) upstream.end();
    else body.pipe(upstream);
  }
}

/**
 * A whole file sent in one request: a PUT of an object (a bucket and a key
 * in the path, no upload id), or a POST form to a bucket. Its key (the
 * PUT's; a form's is in its body: null). Null for anything else (a bucket's
 * CORS rule, a part, a read).
 */
function wholeFile(req, url) {
  const [bucket, ...key] = url.pathname.slice(1).split("/");
  if (req.method === "PUT" && bucket && key.length > 0 && !url.searchParams.has("uploadId")) {
    return { key: decodeURIComponent(key.join("/")) };
  }
  const form = (req.headers["content-type"] ?? "").startsWith("multipart/form-data");
  if (req.method === "POST" && form && key.length === 0) return { key: null };
  return null;
}

/** Whether `fault` is a `{ corrupt }` fault (`corrupt: 0` is offset 0). */
/**
 * A stream that passes bytes through at `bytesPerSecond`, in slices of at
 * most 16 KiB, taking no more than it passes: the browser's upload slows
 * to it, its progress events still coming.
 */
function throttled(bytesPerSecond) {
  const SLICE = 16 * 1024;
  return new Transform({
    highWaterMark: SLICE,
    async transform(chunk, _encoding, done) {
      for (let at = 0; at < chunk.length; at += SLICE) {
        const slice = chunk.subarray(at, at + SLICE);
        await new Promise((resolve) => setTimeout(resolve, (slice.length / bytesPerSecond) * 1000));
        this.push(slice);
      }
      done();
    },
  });
}

function isCorrupt(fault) {
  return fault.corrupt !== undefined && fault.corrupt !== false;
}

/**
 * A stream that passes bytes through with the one at `record.corruptAt`
 * xored with 0xff. Without an offset (a body of unknown length) it holds
 * the body and flips its middle byte at the end; `record.corruptAt` then
 * tells which it was.
 */
function flipByte(record) {
  const offset = record.corruptAt;
  let position = 0;
  const whole = [];
  return new Transform({
    transform(chunk, _encoding, done) {
      if (offset === null) {
        whole.push(chunk);
        done();
        return;
      }
      if (offset >= position && offset < position + chunk.length) {
        chunk = Buffer.from(chunk); // a copy: never change the caller's buffer
        chunk[offset - position] ^= 0xff;
      }
      position += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      if (offset === null) {
        const body = Buffer.concat(whole);
        if (body.length > 0) {
          record.corruptAt = Math.floor(body.length / 2);
          body[record.corruptAt] ^= 0xff;
        }
        this.push(body);
      }
      done();
    },
  });
}
