#!/usr/bin/env node
// An HTTP forward proxy for the browser of the in-browser tests. It passes
// each request on over a new connection that closes after its response.
//
// Why: wasm-bindgen-test-runner serves the test page with tiny_http 0.12.
// Its thread pool (4 threads to start) gives each connection a thread for
// the connection's whole life, and grows only when no thread looks idle; a
// burst of connections can leave one queued with no thread to take it while
// the others sit on idle keep-alive connections. Chromium opens five at once
// for the page's modules; one of them then never gets an answer, and the page
// stays at "Loading scripts..." until chromedriver gives up (300 s). With one
// request per connection, every thread is free again as soon as it answers.
//
// Only loopback is forwarded (the page, the dev server, Garage); anything
// else (the browser's own background requests) is refused at once.
//
// Usage: node scripts/page-proxy.mjs  (prints "page proxy: http://127.0.0.1:PORT",
// then a line for each request it is asked to forward)
import http from "node:http";

// Headers that describe one hop, never passed on (RFC 9110, section 7.6.1).
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The raw header list without the hop-by-hop ones. */
function endToEnd(rawHeaders) {
  const kept = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(rawHeaders[i].toLowerCase())) {
      kept.push(rawHeaders[i], rawHeaders[i + 1]);
    }
  }
  return kept;
}

function isLoopback(hostname) {
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
}

function forward(req, res) {
  console.log(`${req.method} ${req.url}`);
  let target;
  try {
    target = new URL(req.url);
  } catch {
    res.writeHead(400).end("page proxy: not a proxy request\n");
    return;
  }
  if (target.protocol !== "http:" || !isLoopback(target.hostname)) {
    res.writeHead(502).end("page proxy: only loopback is forwarded\n");
    return;
  }
  const upstream = http.request({
    host: target.hostname.replace(/^\[|\]$/g, ""),
    port: target.port || 80,
    method: req.method,
    path: target.pathname + target.search,
    headers: [...endToEnd(req.rawHeaders), "Connection", "close"],
    agent: false,
  });
  upstream.on("response", (answer) => {
    res.writeHead(answer.statusCode, answer.statusMessage, endToEnd(answer.rawHeaders));
    answer.pipe(res);
    answer.on("error", () => res.destroy());
  });
  // A lost upstream is a lost connection for the browser too.
  upstream.on("error", () => res.destroy());
  req.on("error", () => upstream.destroy());
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

const server = http.createServer(forward);
// HTTPS goes through CONNECT: nothing here needs it.
server.on("connect", (_req, socket) => socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n"));
server.listen(0, "127.0.0.1", () => {
  console.log(`page proxy: http://127.0.0.1:${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
}
