// Integrity end to end: per-part SHA-256 checksums signed into the part URLs
// and checked by Garage, the object's composite checksum compared at
// completion, verified resume, streaming sources across reloads, and a page
// that keeps drawing while hundreds of MiB are hashed.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fsp from "node:fs/promises";

import { assertNoPageErrors, retriedOnEngineFault } from "./engine-traps.mjs";
import { MIB, waitUntil } from "./harness.mjs";
import { openDemo, pickFiles, randomNamespace, range, waitDone } from "./demo.mjs";
import { canWriteOpfs, contentBytes, installHelpers, pageActivity, pending, startUpload, waitOutcome, writeOpfsFile } from "./in-page.mjs";
import { assertNothingLeft, assertObject, pickAndHold, reloadMidUpload, startAndHold, useStack } from "./steps.mjs";

const PART = 5 * MIB;

const stack = useStack("integrity");
const test = retriedOnEngineFault(() => ({ stack }));

/** Base64 SHA-256 of each `partSize` slice of `bytes`, and the composite. */
function checksums(bytes, partSize) {
  const digests = [];
  for (let at = 0; at < bytes.length; at += partSize) {
    digests.push(createHash("sha256").update(bytes.subarray(at, at + partSize)).digest());
  }
  const whole = createHash("sha256").update(Buffer.concat(digests)).digest("base64");
  return { parts: digests.map((d) => d.toString("base64")), composite: `${whole}-${digests.length}` };
}

/** The records in the page's IndexedDB, parts spelled out: the library
 *  keeps each record in store "uploads" with its parts compacted
 *  (`partStates` "d"/"i"/"p", newline-joined `partEtags` and
 *  `partChecksums`), and part writes since in store "parts". */
async function storedRecords(tab) {
  await installHelpers(tab);
  return tab.evaluate(() =>
    window.e2e.idb(async (db, requested) => {
      const all = (store) => requested(db.transaction(store).objectStore(store).getAll());
      const [records, journal] = [await all("uploads"), await all("parts")];
      const names = { d: "done", i: "inFlight", p: "pending" };
      return records.map((r) => {
        const etags = r.partEtags.split("\n");
        const checksums = r.partChecksums.split("\n");
        const parts = [...r.partStates].map((s, i) => ({
          number: i + 1,
          state: names[s],
          etag: etags[i] || undefined,
          checksum: checksums[i] || undefined,
        }));
        for (const e of journal.filter((e) => e.id === r.id)) {
          parts[e.number - 1] = { number: e.number, state: e.state, etag: e.etag, checksum: e.checksum };
        }
        return { ...r, parts };
      });
    }),
  );
}

/** Every part PUT of the gate for `partNumber` since `mark`, as states. */
function putStates(mark, partNumber) {
  return stack.gate
    .since(mark)
    .filter((p) => p.partNumber === partNumber)
    .map((p) => p.state);
}

test("parts carry checksums the store checks, saved before sending; the object's checksum is compared", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("sums");
  const file = await stack.makeFile("summed.bin", 2 * PART + 777);
  const bytes = await fsp.readFile(file.path);
  const expected = checksums(bytes, PART);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace, partSize: PART, concurrency: 1 });
  const mark = stack.gate.mark();
  await pickAndHold(stack, tab, file, namespace, 1); // part 2 held at the gate

  // Part 2 is on the wire: its checksum is in the record already, part 1's
  // with its ETag, each the SHA-256 of the file's bytes.
  const [record] = (await storedRecords(tab)).filter((r) => r.namespace === namespace);
  assert.equal(record.checksumAlgorithm, "SHA256");
  assert.equal(record.parts[0].state, "done");
  assert.equal(record.parts[0].checksum, expected.parts[0]);
  assert.equal(record.parts[1].state, "inFlight");
  assert.equal(record.parts[1].checksum, expected.parts[1]);
  // Part 3 waits for the slot, prepared ahead: hashed, signed and its
  // checksum saved, and not a byte of it sent.
  const ahead = await waitUntil(
    async () => (await storedRecords(tab)).find((r) => r.namespace === namespace && r.parts[2].checksum),
    { what: "part 3 prepared ahead" },
  );
  assert.equal(ahead.parts[2].checksum, expected.parts[2]);
  assert.ok(!stack.gate.since(mark).some((p) => p.partNumber === 3), "part 3 not sent yet");
  // The store lists part 1 with the same checksum (it checked the bytes).
  const listed = await stack.debug.parts(record.key, record.uploadId);
  assert.equal(listed.length, 1);
  assert.equal(listed[0].ChecksumSHA256, expected.parts[0]);

  stack.gate.release();
  const done = await waitDone(tab, file.name, 60_000);
  assert.equal(done.result.checksumSha256, expected.composite, "the composite the store computed, compared here");
  assert.deepEqual(done.warnings, []);
  assert.deepEqual(stack.gate.since(mark).map((p) => p.state), ["done", "done", "done"]);
  await assertObject(stack, done.result.key, file.sha256);
  await assertNothingLeft(stack, tab, namespace, done.result);
  await assertNoPageErrors(stack.tab);
});

test("a part with a byte flipped on the way is refused by the store and sent again", { timeout: 180_000 }, async () => {
  const namespace = randomNamespace("flip");
  const file = await stack.makeFile("flipped.bin", 3 * PART + 5);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace, partSize: PART, concurrency: 2 });
  const mark = stack.gate.mark();
  stack.gate.inject(2, { corrupt: true });
  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name, 90_000);
  assert.deepEqual(putStates(mark, 2), ["failed", "done"], "part 2: refused (InvalidDigest), then stored");
  for (const n of [1, 3, 4]) assert.deepEqual(putStates(mark, n), ["done"], `part ${n}`);
  await assertObject(stack, done.result.key, file.sha256);
  assert.ok(done.result.checksumSha256.endsWith("-4"));
  await assertNoPageErrors(stack.tab);
});

/** Uploads through the demo until `stored` parts are on the store and a
 *  later one is held, then reloads the page; answers the stored record. */
async function interruptByReload(tab, file, namespace, stored) {
  const record = await pickAndHold(stack, tab, file, namespace, stored);
  await reloadMidUpload(stack, tab);
  return record;
}

test("verified resume: new bytes under the same name, size and date restart the upload, never mixed", { timeout: 240_000 }, async () => {
  const namespace = randomNamespace("verify");
  const file = await stack.makeFile("edited-in-place.bin", 6 * PART + 5);
  const tab = stack.tab;
  await openDemo(stack, tab, { namespace, partSize: PART, concurrency: 2 });
  const old = await interruptByReload(tab, file, namespace, 3);

  // Edit bytes inside part 2, away from the content sample (first, middle
  // and last 64 KiB), and put the date back: only the part checksums the
  // store holds can tell.
  const { atime, mtime } = await fsp.stat(file.path);
  const handle = await fsp.open(file.path, "r+");
  await handle.write(Buffer.from("edited"), 0, 6, PART + 12345);
  await handle.close();
  await fsp.utimes(file.path, atime, mtime);
  const edited = await fsp.readFile(file.path);
  const editedSha = createHash("sha256").update(edited).digest("hex");
  assert.notEqual(editedSha, file.sha256);

  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name, 120_000);
  assert.deepEqual(done.restarts, ["file-changed"]);
  assert.notEqual(done.result.uploadId, old.uploadId, "a fresh multipart upload");
  await assertObject(stack, done.result.key, editedSha); // only the edited file's bytes
  assert.equal(done.result.checksumSha256, checksums(edited, PART).composite);
  const leftover = (await stack.debug.uploads()).filter((u) => u.uploadId === old.uploadId);
  assert.deepEqual(leftover, [], "the old upload was aborted");
  await assertNoPageErrors(stack.tab);
});

test("a streaming source resumes across a reload, and a changed generator starts afresh", { timeout: 300_000 }, async () => {
  const namespace = randomNamespace("stream");
  const tab = stack.tab;
  const source = (seed) => ({ file: { stream: { id: "report-7", size: 4 * PART + 99, seed } }, options: { namespace, concurrency: 2 } });
  const sha256 = (spec) => createHash("sha256").update(contentBytes(spec.file)).digest("hex");
  await openDemo(stack, tab);

  /** Starts the source, reloads once 2 parts are stored and a third is held; answers its record. */
  const interrupt = async (seed) => {
    const record = await startAndHold(stack, tab, "held", source(seed), 2);
    assert.deepEqual((await pending(tab, namespace)).map((p) => p.uploadId), [record.uploadId], "the source's one record");
    await reloadMidUpload(stack, tab);
    return record;
  };
  /** Uploads the source to the end; answers the run's report. */
  const upload = async (seed) => {
    await startUpload(tab, "again", source(seed));
    const run = await waitOutcome(tab, "again");
    assert.equal(run.outcome.error, undefined, JSON.stringify(run.outcome.error));
    return run;
  };

  // Same generator after the reload: the parts the store holds are
  // regenerated, match their checksums, and are skipped.
  const first = await interrupt(7);
  assert.equal(first.fileName, "report-7.bin");
  const stored = (await stack.debug.parts(first.key, first.uploadId)).map((p) => p.PartNumber);
  let mark = stack.gate.mark();
  const resumed = await upload(7);
  assert.deepEqual(resumed.restarts, []);
  assert.equal(resumed.resumes[0].skippedParts, stored.length);
  assert.equal(resumed.outcome.result.uploadId, first.uploadId);
  const sent = stack.gate.since(mark).map((p) => p.partNumber).sort((a, b) => a - b);
  assert.deepEqual(sent, range(1, 5).filter((n) => !stored.includes(n)), "only the missing parts are sent");
  await assertObject(stack, resumed.outcome.result.key, sha256(source(7)));
  assert.equal(resumed.outcome.result.checksumSha256, checksums(contentBytes(source(7).file), PART).composite);

  // A generator that now makes other bytes under the same id: the held
  // parts no longer match, the old upload is aborted and a fresh one sent.
  const second = await interrupt(7);
  mark = stack.gate.mark();
  const restarted = await upload(8);
  assert.deepEqual(restarted.restarts, ["file-changed"]);
  assert.notEqual(restarted.outcome.result.uploadId, second.uploadId);
  await assertObject(stack, restarted.outcome.result.key, sha256(source(8)));
  await assertNothingLeft(stack, tab, namespace, second);
  await assertNoPageErrors(stack.tab);
});

/** The median time between frames of the idle page, over half a second. */
async function idleFrameInterval(tab) {
  return tab.evaluate(
    () =>
      new Promise((resolve) => {
        const gaps = [];
        let last = null;
        const end = performance.now() + 500;
        const tick = (now) => {
          if (last !== null) gaps.push(now - last);
          last = now;
          if (now < end) return requestAnimationFrame(tick);
          gaps.sort((a, b) => a - b);
          resolve(gaps[gaps.length >> 1]);
        };
        requestAnimationFrame(tick);
      }),
  );
}

test("the page keeps drawing (requestAnimationFrame gaps under 50 ms but at fewer than a third of the parts, none of 250 ms) while 256 MiB are hashed", { timeout: 420_000 }, async (t) => {
  const namespace = randomNamespace("frames");
  const size = 256 * MIB;
  const file = await stack.makeFile("frames.bin", size);
  const tab = stack.tab;
  const params = { namespace, partSize: 8 * MIB, concurrency: 4 };
  await openDemo(stack, tab, params);
  // The thresholds are for a display that draws at 60 Hz. WPE's headless
  // one draws every 34 ms, where one missed frame is a 68 ms gap.
  const idle = await idleFrameInterval(tab);
  if (idle > 20) return t.skip(`this display draws every ${idle.toFixed(1)} ms at idle: a 50 ms gap is under two frames`);
  // Gaps are counted from the moment the file input hands the page the
  // file: before it, the pick is the WebDriver command's doing (WebKitGTK
  // once stalled two frames by 55 and 61 ms while it set the input).
  const watchFrames = () =>
    tab.evaluate(() => {
      window.frameGaps = [];
      window.longGaps = [];
      const start = performance.now();
      let picked = Infinity;
      document.querySelector("#file-input").addEventListener("change", () => (picked = performance.now()), { capture: true, once: true });
      let last = start;
      const tick = (now) => {
        if (last >= picked) window.frameGaps.push(now - last);
        if (last >= picked && now - last >= 50) window.longGaps.push({ at: Math.round(last - start), gap: Math.round(now - last) });
        last = now;
        if (window.watchingFrames) requestAnimationFrame(tick);
      };
      window.watchingFrames = true;
      requestAnimationFrame(tick);
    });
  const frameGaps = () =>
    tab.evaluate(() => {
      window.watchingFrames = false;
      const gaps = window.frameGaps.slice(1).sort((a, b) => a - b);
      return { count: gaps.length, max: gaps.at(-1), p99: gaps[Math.floor(gaps.length * 0.99)], long: window.longGaps };
    });

  // A stall that comes with each part's hashing would show at each of the
  // 32 parts, so gaps of 50 ms or more are allowed at fewer than a third
  // of them (PARTS / 3), and none of 250 ms (fifteen frames; the bound was
  // 150 ms, and one stall of the 2 shared cores came to 131 ms). On 2
  // cores shared with Garage, the browser's other processes and the hash
  // worker, such gaps come in some runs while the page sets the upload up
  // and starts hashing: one or two of 50 ms in Chromium; in WebKitGTK 47 to
  // 100 ms without other load, 131 ms with a build running beside it, and
  // in one fresh-clone CI run (2026-12-06) five, of 56 to 142 ms, all in
  // the first 0.7 s. The bound was 3 gaps then. Without the content
  // sample's hashing (an experiment build) WebKitGTK showed the same (34
  // to 63 ms in 5 runs, against 41 to 60 ms in 5 runs as built): the stall
  // is not the page's own SHA-256.
  const PARTS = size / params.partSize;
  const checkGaps = (gaps, what) => {
    const said = `${what}: the longest frame gap was ${gaps.max.toFixed(1)} ms (p99 ${gaps.p99.toFixed(1)} ms; gaps of 50 ms or more, ms after the start: ${JSON.stringify(gaps.long)})`;
    assert.ok(gaps.count > 20, `${what}: frames were drawn: ${JSON.stringify(gaps)}`);
    assert.ok(gaps.long.length < PARTS / 3, `${gaps.long.length} gaps of 50 ms or more, for ${PARTS} parts; ${said}`);
    assert.ok(gaps.max < 250, said);
  };

  // An upload cut by a reload after 31 of its 32 parts: the resume
  // re-hashes the 31 stored parts (248 MiB) to verify them, and hashes and
  // sends the last one. (The frames are watched while hashing dominates:
  // during plain uploading, with Garage and the browser's network process
  // sharing 2 cores with the page, gaps over 50 ms were seen here with
  // checksums off as well.)
  const old = await interruptByReload(tab, file, namespace, 31);
  await installHelpers(tab); // watches the workers from here
  await watchFrames();
  await pickFiles(tab, file.path);
  const done = await waitDone(tab, file.name, 300_000);
  const gaps = await frameGaps();
  console.log(`# ${gaps.count} frames while verifying a resume; the longest gap ${gaps.max.toFixed(1)} ms, p99 ${gaps.p99.toFixed(1)} ms; gaps of 50 ms or more: ${JSON.stringify(gaps.long)}`);
  checkGaps(gaps, "verifying a resume");
  assert.equal(done.result.uploadId, old.uploadId, "resumed, verified");
  assert.deepEqual(done.restarts, []);
  assert.equal(done.resumed.skippedParts, 31);
  await assertObject(stack, done.result.key, file.sha256);
  const { workers, consoleWarnings } = await pageActivity(tab);
  assert.ok(
    workers.some((url) => url.endsWith("/hash_worker.js")),
    `the hash worker ran (workers: ${JSON.stringify(workers)})`,
  );
  assert.deepEqual(consoleWarnings, [], "no fallback to hashing on the page's thread");
  await assertNoPageErrors(stack.tab);
});

test("a streaming source without an id, or whose read gives the wrong bytes, gets a typed error", { timeout: 120_000 }, async () => {
  const tab = stack.tab;
  await openDemo(stack, tab);
  const namespace = randomNamespace("badsource");
  await installHelpers(tab);
  const outcome = await tab.evaluate(async (namespace) => {
    const { Upload } = await window.e2e.lib();
    const options = { endpoint: "/api/s3", namespace, partSize: 5 * 2 ** 20 };
    const tryNew = (source) => {
      try {
        new Upload(source, options);
        return null;
      } catch (e) {
        return { code: e.code, message: e.message };
      }
    };
    const tryStart = async (source) => {
      try {
        await new Upload(source, options).start();
        return null;
      } catch (e) {
        return { code: e.code, message: e.message };
      }
    };
    const read = (offset, length) => new Uint8Array(length);
    return {
      noId: tryNew({ size: 10, read }),
      badSize: tryNew({ id: "x", size: -1, read }),
      short: await tryStart({ id: "short", size: 100, read: (o, n) => new Uint8Array(n - 1) }),
      throws: await tryStart({ id: "throws", size: 100, read: () => { throw new Error("no disk"); } }),
      rejects: await tryStart({ id: "rejects", size: 100, read: async () => Promise.reject(new Error("gone")) }),
      notBytes: await tryStart({ id: "text", size: 100, read: () => "abc" }),
    };
  }, namespace);
  assert.equal(outcome.noId.code, "INVALID_OPTION");
  assert.match(outcome.noId.message, /source\.id/);
  assert.equal(outcome.badSize.code, "INVALID_OPTION");
  assert.match(outcome.badSize.message, /source\.size/);
  assert.equal(outcome.short.code, "READ_FAILED");
  assert.match(outcome.short.message, /gave 99 bytes; it must give exactly 100/);
  assert.equal(outcome.throws.code, "READ_FAILED");
  assert.match(outcome.throws.message, /no disk/);
  assert.equal(outcome.rejects.code, "READ_FAILED");
  assert.match(outcome.rejects.message, /gone/);
  assert.equal(outcome.notBytes.code, "READ_FAILED");
  assert.match(outcome.notBytes.message, /Uint8Array, ArrayBuffer or Blob/);
  await assertNoPageErrors(stack.tab);
});

/**
 * Uploads an origin-private file with `checksum`, holding it after part 1
 * while the file is written again, so that the parts after it come from a
 * File that can no longer be read; answers the run's report and namespace,
 * or null where no origin-private file can be written.
 */
async function uploadChangedMidway(tab, label, checksum) {
  await openDemo(stack, tab);
  if (!(await canWriteOpfs(tab))) return null;
  const namespace = randomNamespace(label);
  const name = `${label}.bin`;
  await writeOpfsFile(tab, name, 5 * PART + 1, 1);
  const spec = { file: { opfsFile: name }, options: { namespace, concurrency: 1, checksum, retryDelays: [0] } };
  await startAndHold(stack, tab, label, spec, 1);
  await writeOpfsFile(tab, name, 5 * PART + 1, 2);
  stack.gate.release();
  return { run: await waitOutcome(tab, label), namespace };
}

const NO_OPFS = "no origin-private file system to change a file in";

test("with checksums off, a file that becomes unreadable midway fails with READ_FAILED, not as a network error", { timeout: 180_000 }, async (t) => {
  // No part is read before it is sent then: the browser reports the part
  // it could not read as the request's network error.
  const changed = await uploadChangedMidway(stack.tab, "unreadable-none", "none");
  if (!changed) return t.skip(NO_OPFS);
  assert.equal(changed.run.outcome.error?.code, "READ_FAILED", JSON.stringify(changed.run.outcome));
});

test("a file that becomes unreadable midway fails with READ_FAILED, and the hash worker goes on hashing other files", { timeout: 180_000 }, async (t) => {
  const tab = stack.tab;
  // The parts after the held one are hashed (in the worker) from the File
  // that can no longer be read.
  const changed = await uploadChangedMidway(tab, "unreadable", "sha256");
  if (!changed) return t.skip(NO_OPFS);
  const { run, namespace } = changed;
  assert.equal(run.outcome.error?.code, "READ_FAILED", JSON.stringify(run.outcome));
  // Another file is still hashed off the page's thread.
  const other = await startUpload(tab, "readable", { file: { name: "readable.bin", size: 2 * PART + 3 }, options: { namespace, checksum: "sha256" } });
  const done = await waitOutcome(tab, "readable");
  await assertObject(stack, done.outcome.result.key, other.sha256);
  const { consoleWarnings } = await pageActivity(tab);
  assert.deepEqual(consoleWarnings.filter((w) => /hashing on the page's thread/.test(w)), [], "the hash worker was kept");
});
