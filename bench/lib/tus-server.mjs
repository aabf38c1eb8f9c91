// A tus server (@tus/server + @tus/file-store) on 127.0.0.1, run by the bench
// as a child process so its work does not share the bench's event loop.
//
//   node bench/lib/tus-server.mjs <dir>
//
// Prints one JSON line {"port": N, "extensions": [...]} when it listens;
// exits when its standard input closes (so it dies with the bench).

import http from "node:http";

import { FileStore } from "@tus/file-store";
import { Server } from "@tus/server";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node bench/lib/tus-server.mjs <dir>");
  process.exit(2);
}
const datastore = new FileStore({ directory: dir });
const tus = new Server({ path: "/files", datastore });
const server = http.createServer((req, res) => tus.handle(req, res));
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ port, extensions: datastore.extensions })}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
