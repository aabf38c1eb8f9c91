// Ports and servers on loopback, for the tests and the bench: every
// network test listens on 127.0.0.1 only, and closes what it opened.

import net from "node:net";

/** Ports `freePort` has handed out in this process. */
const handedOut = new Set();

/**
 * A free TCP port on 127.0.0.1, for a child process to listen on. The port
 * is found by listening on port 0 and closing again, so it is free only
 * until something takes it: no port is handed out twice in one process
 * (a child started a moment ago may not have bound the last one yet).
 */
export async function freePort() {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const probe = net.createServer();
    const port = await new Promise((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(0, "127.0.0.1", () => {
        const { port } = probe.address();
        probe.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free loopback port in 20 tries");
}

/**
 * Starts `server` (a `node:http` server) on a free loopback port, an
 * origin of its own for a page; answers that origin,
 * `http://127.0.0.1:<port>`.
 */
export async function listenOnLoopback(server) {
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return `http://127.0.0.1:${server.address().port}`;
}

/**
 * Closes `server` at once: the connections a browser keeps alive, and
 * requests a test holds open, are cut rather than waited for.
 */
export async function closeNow(server) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(() => resolve()));
}
