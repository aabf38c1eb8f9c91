// Gives the wasm module's imports from its own JS glue short names, in the
// module and in the glue alike (a build step of scripts/build.mjs).
//
// wasm-bindgen names each import after its Rust item and a 16-digit hash
// (`__wbg_objectStore_a2b5ae038954c7ba`), and writes each name twice: in
// the module's import section and as a key of the glue's import object.
// The hashes do not compress. Shortened, the package is 4.3 KB smaller
// gzipped (BENCHMARKS.md). binaryen's `--minify-imports-and-exports` does
// this too, but renames the exports with them, which the hash worker
// calls by name.
//
// Only the imports of the glue's own object (module `./resupload_bg.js`)
// are renamed: a snippet's imports are its module's real export names.
// The rest of the module is copied byte for byte. Every old name must be
// found exactly once in the glue, as a key: anything else stops the build
// (a wasm-bindgen that writes its glue differently must be looked at, not
// half renamed).

import fs from "node:fs";

/** The import module that the glue's own import object answers. */
const GLUE_MODULE = "./resupload_bg.js";
/** Its name in the shortened module. */
const SHORT_MODULE = "a";
const IMPORT_SECTION = 2;

/** Reads an unsigned LEB128 at `pos`: [value, next position]. */
function readU32(bytes, pos) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, pos];
}

/** An unsigned LEB128. */
function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

function readName(bytes, pos) {
  const [length, start] = readU32(bytes, pos);
  return [Buffer.from(bytes.subarray(start, start + length)).toString("utf8"), start + length];
}

function name(text) {
  const utf8 = Buffer.from(text, "utf8");
  return [...u32(utf8.length), ...utf8];
}

/** The position after an import's description at `pos` (its kind byte). */
function skipDescription(bytes, pos) {
  const kind = bytes[pos++];
  const skipLimits = (p) => {
    const flags = bytes[p++];
    [, p] = readU32(bytes, p);
    if (flags & 1) [, p] = readU32(bytes, p);
    return p;
  };
  switch (kind) {
    case 0: // function: a type index
      return readU32(bytes, pos)[1];
    case 1: // table: a reference type, then limits
      return skipLimits(pos + 1);
    case 2: // memory: limits
      return skipLimits(pos);
    case 3: // global: a value type and mutability
      return pos + 2;
    case 4: // tag: an attribute and a type index
      return readU32(bytes, pos + 1)[1];
    default:
      throw new Error(`short-imports: unknown import kind ${kind}`);
  }
}

/** Short identifiers: a, b, …, Z, aa, ab, … */
function* shortNames() {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (let length = 1; ; length++) {
    const index = new Array(length).fill(0);
    for (;;) {
      yield index.map((i) => letters[i]).join("");
      let k = length - 1;
      while (k >= 0 && ++index[k] === letters.length) index[k--] = 0;
      if (k < 0) break;
    }
  }
}

/** The import section rewritten; the names renamed, old to new. */
function renameImports(section) {
  const renamed = new Map();
  const fresh = shortNames();
  let [count, pos] = readU32(section, 0);
  const out = [...u32(count)];
  while (count--) {
    let module;
    let field;
    [module, pos] = readName(section, pos);
    [field, pos] = readName(section, pos);
    const end = skipDescription(section, pos);
    if (module === GLUE_MODULE) {
      if (!renamed.has(field)) renamed.set(field, fresh.next().value);
      out.push(...name(SHORT_MODULE), ...name(renamed.get(field)));
    } else {
      out.push(...name(module), ...name(field));
    }
    out.push(...section.subarray(pos, end));
    pos = end;
  }
  return { section: Uint8Array.from(out), renamed };
}

/** The module with its import section replaced by `rewrite`'s. */
function withImportSection(bytes, rewrite) {
  const parts = [bytes.subarray(0, 8)];
  let pos = 8;
  let renamed = null;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const [size, start] = readU32(bytes, pos + 1);
    const body = bytes.subarray(start, start + size);
    if (id === IMPORT_SECTION) {
      const done = rewrite(body);
      renamed = done.renamed;
      parts.push(Uint8Array.of(id, ...u32(done.section.length)), done.section);
    } else {
      parts.push(bytes.subarray(pos, start + size));
    }
    pos = start + size;
  }
  if (!renamed) throw new Error("short-imports: the module has no import section");
  return { module: Buffer.concat(parts), renamed };
}

/** `glue` with each key `old` of the import object renamed. */
function renameKeys(glue, renamed) {
  const key = (text) => new RegExp(`(?<=[\\s{,])${text.replace(/[./]/g, "\\$&")}(?=\\s*:)`, "g");
  let out = glue;
  for (const [old, short] of [[JSON.stringify(GLUE_MODULE), SHORT_MODULE], ...renamed]) {
    const found = out.match(key(old))?.length ?? 0;
    if (found !== 1) {
      throw new Error(`short-imports: ${old} is a key ${found} times in the glue, not once`);
    }
    out = out.replace(key(old), short);
  }
  return out;
}

/**
 * Shortens the names of `wasmFile`'s imports from its glue, in the module
 * and in `glueFile`, in place. Answers how many were renamed.
 */
export function shortenImports(wasmFile, glueFile) {
  const { module, renamed } = withImportSection(fs.readFileSync(wasmFile), renameImports);
  const glue = renameKeys(fs.readFileSync(glueFile, "utf8"), renamed);
  fs.writeFileSync(wasmFile, module);
  fs.writeFileSync(glueFile, glue);
  return renamed.size;
}
