// Names the functions of a trap's stack. A WebKit stack names wasm frames
// by index only ("<?>.wasm-function[325]@[wasm code]"), as the package's
// modules carry no name section; a build with `--names` has one, with the
// functions in the same order (scripts/build.mjs).
//
//   node scripts/build.mjs --out-dir target/names --names
//   node scripts/trap-names.mjs [target/names/resupload_bg.wasm] < stack.txt
//
// Which module: the one of the entry the page imported (`resupload` is
// target/names/resupload_bg.wasm, `resupload/pending` and `resupload/queue`
// are in their folders). The stack may be pasted as a JSON string (with
// "\n" between its lines): each `wasm-function[N]` is looked up.

import fs from "node:fs";

const wasmPath = process.argv[2] ?? "target/names/resupload_bg.wasm";
const names = functionNames(fs.readFileSync(wasmPath));
if (names.size === 0) {
  console.error(`${wasmPath} has no function names: build it with --names`);
  process.exit(1);
}
const stack = fs.readFileSync(0, "utf8");
for (const [, index] of stack.matchAll(/wasm-function\[(\d+)\]/g)) {
  console.log(`${index.padStart(5)}  ${names.get(Number(index)) ?? "(no name)"}`);
}

/** The function names (by function index, imports first) of the module's `name` section. */
function functionNames(bytes) {
  const names = new Map();
  const reader = byteReader(bytes, 8); // after the magic number and version
  while (!reader.done()) {
    const id = reader.byte();
    const end = reader.u32() + reader.at();
    if (id === 0 && reader.string() === "name") {
      while (reader.at() < end) {
        const subsection = reader.byte();
        const subEnd = reader.u32() + reader.at();
        if (subsection === 1) {
          for (let n = reader.u32(); n > 0; n--) names.set(reader.u32(), reader.string());
        }
        reader.seek(subEnd);
      }
    }
    reader.seek(end);
  }
  return names;
}

/** LEB128 integers and UTF-8 strings from `bytes`, from `offset` on. */
function byteReader(bytes, offset) {
  let at = offset;
  const reader = {
    at: () => at,
    done: () => at >= bytes.length,
    seek: (to) => (at = to),
    byte: () => bytes[at++],
    u32() {
      let value = 0;
      for (let shift = 0; ; shift += 7) {
        const b = reader.byte();
        value += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) return value;
      }
    },
    string() {
      const length = reader.u32();
      at += length;
      return new TextDecoder().decode(bytes.subarray(at - length, at));
    },
  };
  return reader;
}
