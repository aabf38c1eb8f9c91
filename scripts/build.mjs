// Builds the npm package into pkg/ (`npm run build`):
//
//   1. cargo builds the library for wasm32 (release; .cargo/config.toml
//      turns the reference-types and multivalue features off for wasm32);
//   2. wasm-opt strips the `target_features` section, so wasm-bindgen keeps
//      JS values in its JS-side slab, not in an externref table (WebKit of
//      the Safari 16 era traps on externref tables: "Out of bounds table
//      access", which left start() unsettled in WPE WebKit 2.38);
//   3. wasm-bindgen writes the JS glue (--target web) and the snippets; the
//      glue then calls the module through guard.js's `watch`, so that a
//      trap is known as this module's (not another module's of the page);
//   4. wasm-opt shrinks the module (flags below, measured in BENCHMARKS.md);
//   5. the imports from the glue get short names, in the module and the
//      glue (scripts/short-imports.mjs);
//   6. the workers (hash_worker.js, copy_worker.js) go beside the snippets
//      that start them;
//   7. esbuild minifies the glue, the snippets and the workers in place,
//      each with a source map (a page without a bundler loads 4.2 KB less
//      gzipped; a bundler that minifies gets the same bytes either way:
//      BENCHMARKS.md);
//   8. steps 1-7 again with the `pending` feature, into pkg/pending/ (the
//      `resupload/pending` entry), and with the `queue` feature, into
//      pkg/queue/ (the `resupload/queue` entry; see BUILDS), then
//      package.json, the README and the licences are written.
//
// wasm-pack did 1, 3, 4 and part of 6, but cannot run a step between cargo
// and wasm-bindgen. Tools come from PATH (cargo, wasm-bindgen) and
// node_modules (binaryen's wasm-opt, esbuild; Debian's binaryen breaks the
// output).
//
//   node scripts/build.mjs [--out-dir pkg] [--dev] [--names]
//
// --dev: no wasm-opt -Oz, faster. --names: the modules keep their name
// section (wasm-opt -g), for scripts/trap-names.mjs to name the functions
// of a trap's stack; the functions keep their order (checked: the same
// signatures at every index as without it), so the names fit a stack from
// the package's own modules.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

import { GLUE_INTERNAL } from "../src/web/guard.js";
import { shortenImports } from "./short-imports.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TARGET = "wasm32-unknown-unknown";
const NAME = "resupload";

// --converge repeats -Oz while it still shrinks the module; the producers
// and target-features sections are metadata no browser reads. Inlining a
// function into its only caller is limited to small ones: merged into the
// large async state machines they made the module 2.3 KB smaller raw but
// 3.3 KB larger gzipped (the same code under different local numbers).
const WASM_OPT_FLAGS = [
  "-Oz",
  "--converge",
  "--one-caller-inline-max-function-size",
  "30",
  "--strip-producers",
  "--strip-target-features",
  "--enable-bulk-memory",
  "--enable-nontrapping-float-to-int",
  "--enable-sign-ext",
  "--enable-mutable-globals",
];

const args = process.argv.slice(2);
const outDir = path.resolve(ROOT, valueOf("--out-dir") ?? "pkg");
const dev = args.includes("--dev");
const keepNames = args.includes("--names") ? ["-g"] : [];

function valueOf(flag) {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

function run(command, commandArgs, options = {}) {
  console.error(`> ${command} ${commandArgs.join(" ")}`);
  const result = spawnSync(command, commandArgs, { cwd: ROOT, stdio: "inherit", ...options });
  if (result.error) throw new Error(`${command}: ${result.error.message} (scripts/setup.sh installs it)`);
  if (result.status !== 0) throw new Error(`${command} failed (exit ${result.status})`);
}

function wasmOpt() {
  const local = path.join(ROOT, "node_modules/.bin/wasm-opt");
  if (!fs.existsSync(local)) throw new Error("node_modules/.bin/wasm-opt is missing: run npm ci (binaryen)");
  return local;
}

/** `key = "value"` lines of Cargo.toml's [package] table. */
function cargoPackage() {
  const toml = fs.readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
  const table = /^\[package\]\n([\s\S]*?)(?=^\[)/m.exec(toml)?.[1] ?? "";
  const fields = {};
  for (const m of table.matchAll(/^(\w[\w-]*)\s*=\s*"([^"]*)"\s*$/gm)) fields[m[1]] = m[2];
  return fields;
}

function packageJson(cargo) {
  return {
    name: NAME,
    version: cargo.version,
    description: cargo.description,
    license: cargo.license,
    keywords: ["upload", "s3", "multipart", "resumable", "wasm"],
    type: "module",
    main: `./${NAME}.js`,
    types: `./${NAME}.d.ts`,
    exports: {
      ".": { types: `./${NAME}.d.ts`, default: `./${NAME}.js` },
      "./pending": { types: `./pending/${NAME}.d.ts`, default: `./pending/${NAME}.js` },
      "./queue": { types: `./queue/${NAME}.d.ts`, default: `./queue/${NAME}.js` },
      "./package.json": "./package.json",
    },
    files: [
      `${NAME}.js`, `${NAME}.js.map`, `${NAME}.d.ts`, `${NAME}_bg.wasm`, `${NAME}_bg.wasm.d.ts`, "snippets/",
      "pending/",
      "queue/",
      "README.md", "LICENSE-MIT", "LICENSE-APACHE",
    ],
    // Importing the package runs no code with effects: nothing touches a
    // browser global before `init()` and `new Upload()`.
    sideEffects: false,
  };
}

/** The folder wasm-bindgen wrote the hash worker's client snippet to, under `dir`. */
function snippetDir(dir) {
  const snippets = path.join(dir, "snippets");
  for (const crate of fs.readdirSync(snippets)) {
    const dir = path.join(snippets, crate, "src/web");
    if (fs.existsSync(path.join(dir, "hash_client.js"))) return dir;
  }
  throw new Error(`no hash_client.js under ${snippets}`);
}

// The release build compiles Rust's standard library with the crate
// (`-Zbuild-std`, from the rust-src component) so that std, too, is built
// for size, with panics as a bare trap and no panic locations or Debug
// formatting: 15.7 KB gzip less (BENCHMARKS.md). These are unstable
// options of the stable toolchain, allowed by RUSTC_BOOTSTRAP=1 for this
// one build only; the tests' own builds use plain stable. The build has
// its own target directory, as its flags differ for every crate.
const SIZE_RUSTFLAGS = [
  "-Zunstable-options",
  "-Cpanic=immediate-abort",
  "-Zlocation-detail=none",
  "-Zfmt-debug=none",
];
const SIZE_TARGET_DIR = path.join(ROOT, "target", "pkg");

/** cargo's arguments and environment for the wasm build; the module it writes. */
function cargoBuild() {
  if (dev) {
    return { args: [], env: process.env, raw: path.join(ROOT, "target", TARGET, "debug", `${NAME}.wasm`) };
  }
  // Cargo joins this list to .cargo/config.toml's rustflags for wasm32.
  const rustflags = `target.${TARGET}.rustflags=${JSON.stringify(SIZE_RUSTFLAGS)}`;
  return {
    args: ["--release", "-Zbuild-std=std,panic_abort", "-Zbuild-std-features=optimize_for_size", "--config", rustflags],
    env: { ...process.env, RUSTC_BOOTSTRAP: "1", CARGO_TARGET_DIR: SIZE_TARGET_DIR },
    raw: path.join(SIZE_TARGET_DIR, TARGET, "release", `${NAME}.wasm`),
  };
}

/**
 * The package's three builds of the module, each a folder of the package.
 * `resupload` has `Upload`, without its static lookups of the uploads
 * stored in this browser (`findPrevious`, `listPending`, `clearPending`,
 * `resumePending`: there they reject with `NOT_IN_BUILD`).
 * `resupload/pending` adds them (9 KB gzip), and `resupload/queue` adds
 * `UploadQueue` to that (26 KB more), so that a page downloads only what
 * it calls (BENCHMARKS.md). A page imports everything it uses from one
 * entry: each is a module of its own.
 */
const BUILDS = [
  { dir: ".", cargoArgs: ["--no-default-features"] },
  { dir: "pending", cargoArgs: ["--no-default-features", "--features", "pending"] },
  { dir: "queue", cargoArgs: [] },
];

/** The glue of the build in `dir`, and every `.js` file of its snippets. */
function jsFiles(dir) {
  const snippets = fs.readdirSync(path.join(dir, "snippets"), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".js"))
    // `parentPath` from Node 20.12; `path` before it (deprecated since).
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
  return [path.join(dir, `${NAME}.js`), ...snippets];
}

/**
 * Minifies the ES modules of the build in `dir` in place, each with a
 * source map beside it (`<file>.map`, holding the unminified source) for
 * a page's developer tools. The glue's first line, the `@ts-self-types`
 * comment that Deno and JSR read its types from, is kept.
 * `new URL("…", import.meta.url)`, which bundlers follow to the wasm and
 * the worker, stays as it is.
 */
function minifyJs(dir) {
  for (const file of jsFiles(dir)) {
    const source = fs.readFileSync(file, "utf8");
    const name = path.basename(file);
    const banner = /^\/\* @ts-self-types="[^"]*" \*\//.exec(source)?.[0];
    const { code, map } = esbuild.transformSync(source, {
      minify: true,
      format: "esm",
      legalComments: "none",
      banner,
      sourcemap: "external",
      sourcefile: name,
    });
    fs.writeFileSync(file, `${code}//# sourceMappingURL=${name}.map\n`);
    fs.writeFileSync(`${file}.map`, map);
  }
}

/**
 * The exports the glue's documented methods and functions call, the API's
 * (each JSDoc block's first call of the module), as `{ name, answers }`:
 * `answers` is "promise" when the method returns one (`@returns
 * {Promise<…>}`), "nothing" when it returns nothing (`pause()`), else
 * "value".
 */
function apiExports(glue) {
  const found = [];
  for (const block of glue.split("/**").slice(1)) {
    const end = block.indexOf("*/");
    const doc = block.slice(0, end);
    // The method or function, to the brace that closes it.
    const code = block.slice(end).split(/\n {0,4}\}\n/)[0];
    if (/^\*\/\s*export class /.test(code)) continue;
    const call = /wasm\.((?!__wbindgen_add_to_stack_pointer)\w+)\(/.exec(code);
    if (!call) continue;
    const answers = doc.includes("@returns {Promise<") ? "promise" : /\breturn\b/.test(code) ? "value" : "nothing";
    found.push({ name: call[1], answers });
  }
  return found;
}

/**
 * Makes the glue in `dir` call the module through guard.js's `watch`, which
 * closes the module on its first trap (see guard.js), telling it which
 * exports return a promise and which return nothing, and has wasm-bindgen's
 * `throw_str` mark its errors as misuse, not traps. Fails the build if
 * wasm-bindgen's glue no longer has what this relies on: the three places
 * it rewrites, `addHeapObject`, and API exports none of which guard.js
 * takes for the glue's own.
 */
function watchExports(dir) {
  const file = path.join(dir, `${NAME}.js`);
  let glue = fs.readFileSync(file, "utf8");
  const api = apiExports(glue);
  const named = (answers) => api.filter((e) => e.answers === answers).map((e) => e.name);
  const [promised, quiet] = [named("promise"), named("nothing")];
  const misread = api.filter((e) => GLUE_INTERNAL.test(e.name)).map((e) => e.name);
  if (!promised.includes("upload_start") || !quiet.includes("upload_pause") || !named("value").includes("upload_new") || misread.length) {
    throw new Error(`the glue's API exports are not as guard.js expects (${JSON.stringify(api)}; taken for the glue's own: ${misread}): see watchExports`);
  }
  if (!/^function addHeapObject\(/m.test(glue)) throw new Error("the glue has no addHeapObject: see watchExports");
  const edits = [
    [/^import \{ ([\w, ]*\bguard\b[\w, ]*) \} from ('\.\/snippets\/[^']+\/src\/web\/guard\.js');$/m, "import { $1, misuse, watch } from $2;"],
    [/^(\s*__wbg___wbindgen_throw_[0-9a-f]+: function\(arg0, arg1\) \{\n\s*)throw new Error\(getStringFromWasm0\(arg0, arg1\)\);$/m, "$1throw misuse(new Error(getStringFromWasm0(arg0, arg1)));"],
    [/^(\s*)wasm = instance\.exports;$/m, `$1wasm = watch(instance.exports, { promised: ${JSON.stringify(promised)}, quiet: ${JSON.stringify(quiet)} }, addHeapObject);`],
  ];
  for (const [pattern, replacement] of edits) {
    if (!pattern.test(glue)) throw new Error(`the glue has no line matching ${pattern}: see watchExports`);
    glue = glue.replace(pattern, replacement);
  }
  fs.writeFileSync(file, glue);
}

/** Builds the module with `cargoArgs` and writes its glue and wasm to `dir`. */
function buildModule(dir, cargoArgs) {
  const build = cargoBuild();
  run("cargo", ["build", "--lib", "--target", TARGET, ...build.args, ...cargoArgs], { env: build.env });
  const plain = build.raw.replace(/\.wasm$/, ".plain.wasm");
  run(wasmOpt(), [build.raw, ...keepNames, "--strip-target-features", "-o", plain]);
  run("wasm-bindgen", ["--target", "web", "--out-dir", dir, "--out-name", NAME, plain]);
  watchExports(dir);
  const wasm = path.join(dir, `${NAME}_bg.wasm`);
  if (!dev) run(wasmOpt(), [wasm, "-o", wasm, ...keepNames, ...WASM_OPT_FLAGS]);
  const renamed = shortenImports(wasm, path.join(dir, `${NAME}.js`));
  console.error(`> ${renamed} imports renamed`);
  for (const worker of ["hash_worker.js", "copy_worker.js"]) {
    fs.copyFileSync(path.join(ROOT, "src/web", worker), path.join(snippetDir(dir), worker));
  }
  const glue = fs.readFileSync(path.join(dir, `${NAME}.js`), "utf8");
  if (glue.includes("externref")) throw new Error("the glue uses an externref table: the target_features section was not stripped");
  if (!dev) minifyJs(dir);
}

function main() {
  fs.rmSync(outDir, { recursive: true, force: true });
  for (const { dir, cargoArgs } of BUILDS) buildModule(path.join(outDir, dir), cargoArgs);
  const cargo = cargoPackage();
  fs.writeFileSync(path.join(outDir, "package.json"), `${JSON.stringify(packageJson(cargo), null, 2)}\n`);
  for (const file of ["README.md", "LICENSE-MIT", "LICENSE-APACHE"]) {
    fs.copyFileSync(path.join(ROOT, file), path.join(outDir, file));
  }
  console.error(`pkg ready: ${outDir}`);
}

try {
  main();
} catch (error) {
  console.error(`build: ${error.message}`);
  process.exit(1);
}
