// The TypeScript types as users get them: the `npm pack` tarball of pkg/
// installed into a project, and a consumer's code (tests/e2e/types/: the
// README's calls, and `@ts-expect-error` lines for what the types must
// refuse) compiled against each entry with the repository's own tsc,
// --strict, resolving the package as bundlers do and as Node does. The
// closed lists in the types (a warning's codes, a restart's reasons) are
// checked against the Rust code that makes the values. From Node alone.

import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";

import { REPO, log, run } from "./harness.mjs";

const TSC = path.join(REPO, "node_modules/.bin/tsc");
const FIXTURES = path.join(REPO, "tests/e2e/types");
const ENTRIES = ["resupload", "resupload/pending", "resupload/queue"];
/** Each fixture, and the entries it is compiled against. */
const CHECKS = [
  ["upload.ts", ENTRIES],
  ["pending.ts", ["resupload/pending", "resupload/queue"]],
  ["queue.ts", ["resupload/queue"]],
];

let dir;
before(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "resupload-types-"));
  const packed = await run("npm", ["pack", path.join(REPO, "pkg"), "--pack-destination", dir, "--json"], { timeout: 60_000 });
  const tarball = path.join(dir, JSON.parse(packed.slice(packed.indexOf("[")))[0].filename);
  const target = path.join(dir, "node_modules/resupload");
  await fsp.mkdir(target, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", target, "--strip-components=1"], { timeout: 30_000 });
  await fsp.writeFile(path.join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  const files = [];
  for (const [fixture, entries] of CHECKS) {
    const text = await fsp.readFile(path.join(FIXTURES, fixture), "utf8");
    assert.match(text, /from "resupload[/a-z]*";/, `${fixture} imports the package`);
    for (const entry of entries) {
      const name = `${path.basename(fixture, ".ts")}.${entry.replace("/", "-")}.ts`;
      await fsp.writeFile(path.join(dir, name), text.replace(/from "resupload[/a-z]*";/g, `from "${entry}";`));
      files.push(name);
    }
  }
  // The .d.ts files are checked too (no skipLibCheck); no @types from
  // anywhere up the tree. wasm-bindgen gives each class a
  // `[Symbol.dispose]()`, which needs the esnext.disposable lib.
  const lib = ["es2022", "esnext.disposable", "dom"];
  const compilerOptions = { strict: true, noEmit: true, target: "es2022", lib, types: [] };
  await fsp.writeFile(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files }, null, 2));
});
after(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

for (const [module, resolution] of [["esnext", "bundler"], ["nodenext", "nodenext"]]) {
  test(`a consumer's TypeScript compiles against each entry, as the README writes it (moduleResolution ${resolution})`, { timeout: 120_000 }, async () => {
    const args = ["-p", dir, "--module", module, "--moduleResolution", resolution, "--pretty", "false"];
    // tsc exits non-zero on type errors: those are listed. Any other way
    // it fails (not found, a crash, the time limit) is a failure too.
    let failed = null;
    const output = await run(TSC, args, { cwd: dir, timeout: 110_000 }).catch((e) => {
      failed = e;
      return e.message;
    });
    const errors = output.split("\n").filter((line) => /error TS\d+/.test(line));
    if (errors.length) log(output.trim());
    assert.deepEqual(errors, [], "tsc --strict finds nothing wrong");
    assert.equal(failed, null, `tsc did not run to its end: ${failed?.message}`);
  });
}

/** The string literals of `union` (a TypeScript type). */
const literals = (union) => [...union.matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort();

test("a warning's codes, a restart's reasons and an error's codes in the types are every value the code gives", async () => {
  const errorRs = await fsp.readFile(path.join(REPO, "src/error.rs"), "utf8");
  const codeFn = errorRs.slice(errorRs.indexOf("pub fn code(&self)"), errorRs.indexOf("pub fn is_retryable"));
  // guard.js makes INTERNAL_ERROR, in JavaScript.
  const errorCodes = [...new Set([...codeFn.matchAll(/=> "(\w+)"/g)].map((m) => m[1])), "INTERNAL_ERROR"].sort();
  assert.ok(errorCodes.length >= 25, `src/error.rs's codes: ${errorCodes}`);
  const ports = await fsp.readFile(path.join(REPO, "src/ports.rs"), "utf8");
  const codes = [...ports.matchAll(/WarningCode::\w+ => "(\w+)"/g)].map((m) => m[1]).sort();
  const reasons = [...ports.matchAll(/RestartReason::\w+ => "([\w-]+)"/g)].map((m) => m[1]).sort();
  assert.ok(codes.length >= 9 && reasons.length >= 2, `src/ports.rs's as_str: ${codes} / ${reasons}`);
  for (const entry of ENTRIES) {
    const types = path.join(dir, "node_modules", entry.replace(/^resupload/, "resupload/"), "resupload.d.ts");
    const text = await fsp.readFile(types, "utf8");
    const warning = /export interface UploadWarning \{\s*code:([^;]*);/.exec(text);
    assert.ok(warning, `${entry}: UploadWarning's code`);
    assert.deepEqual(literals(warning[1]), codes, `${entry}: UploadWarning's codes`);
    const restart = /onRestart\?: \(restart: \{ reason:([^}]*)\}\)/.exec(text);
    assert.ok(restart, `${entry}: onRestart's reason`);
    assert.deepEqual(literals(restart[1]), reasons, `${entry}: onRestart's reasons`);
    const error = /export type ResuploadErrorCode =([^;]*);/.exec(text);
    assert.ok(error, `${entry}: ResuploadErrorCode`);
    assert.deepEqual(literals(error[1]), errorCodes, `${entry}: ResuploadErrorCode`);
  }
});
