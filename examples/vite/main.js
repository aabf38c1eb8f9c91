// A resumable upload with checksums: pick a file; reload midway and pick it
// again to resume. No Vite plugin or setting is needed: the wasm module and
// the hash worker are assets Vite finds on its own.
import init, { Upload } from "resupload";

const ready = init();
const status = document.querySelector("#status");
// What happened, for the tests that build this example.
const report = (window.exampleReport = { warnings: [], result: null, error: null });

document.querySelector("#file").addEventListener("change", async (event) => {
  const [file] = event.target.files;
  if (!file) return;
  await ready;
  const upload = new Upload(file, {
    endpoint: "/api/s3",
    checksum: "sha256",
    onProgress: (p) => (status.textContent = `${Math.floor((100 * p.sentBytes) / p.totalBytes)}%`),
    onWarning: (w) => report.warnings.push(w.code),
  });
  try {
    report.result = { ...(await upload.start()) };
    status.textContent = `Stored as ${report.result.key}`;
  } catch (e) {
    report.error = { code: e.code, message: e.message };
    status.textContent = `Failed (${e.code}): ${e.message}`;
  }
});
