// Ports and servers on loopback, for the tests and the bench: every
// network test listens on 127.0.0.1 only, and closes what it opened.

import http from "node:http";
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

/**
 * A pass-through proxy to `target` (an origin, such as the dev server's)
 * on a loopback port, an origin of its own. `hold({ method, path })` says
 * which requests to hold, and how: "silent" (read, and never answered),
 * "body" (the target's status and headers sent, its body never) or "cut"
 * (its status, headers and the first half of its body sent, then the
 * connection cut); anything else passes through. Held requests stay open
 * until `close()`. Answers `{ origin, calls, close }`, where `calls` lists
 * each request's method and path.
 */
export async function holdingProxy(target, hold) {
  const to = new URL(target);
  const calls = [];
  const held = new Set();
  const server = http.createServer((request, response) => {
    const path = new URL(request.url, "http://proxy").pathname;
    calls.push({ method: request.method, path });
    const how = hold({ method: request.method, path });
    if (how) held.add(response);
    if (how === "silent") return request.resume();
    const upstream = http.request(
      { host: to.hostname, port: to.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode, answer.headers);
        if (how === "body") return response.flushHeaders();
        if (how === "cut") return cutMidBody(answer, response);
        answer.pipe(response);
      },
    );
    upstream.on("error", () => response.destroy());
    request.pipe(upstream);
  });
  return {
    origin: await listenOnLoopback(server),
    calls,
    async close() {
      for (const response of held) response.destroy();
      await closeNow(server);
    },
  };
}

/** Sends the first half of `answer`'s body, then cuts the connection. */
function cutMidBody(answer, response) {
  const chunks = [];
  answer.on("data", (chunk) => chunks.push(chunk));
  answer.on("end", () => {
    const body = Buffer.concat(chunks);
    response.write(body.subarray(0, body.length >> 1), () => response.socket?.destroy());
  });
}
