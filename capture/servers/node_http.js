// The `node` server: Node's http module, the handler waits (setTimeout), then
// res.write of N zero bytes and res.end.
//
//   node node_http.js --host 127.0.0.1 --port 3000 --size 8061 --delay 1.0
//                     [--content-length] [--ctx-aware]
//
// One JSON line per event on stdout (app.jsonl format, see analysis/bundle.py),
// each with one write(2) (fs.writeSync) so lines from several processes
// appending to one file never interleave. Unlike net/http, Node reacts to the
// client's FIN at once: the http server aborts the request and ends/destroys
// the socket, so the handler's later write never reaches the kernel. The log
// shows it: the 'close' events of req/res/socket, the socket's state just
// before writing, and each write's callback error.
'use strict';
const fs = require('fs');
const http = require('http');
const { performance } = require('perf_hooks');
const { parseArgs } = require('util');

const { values: opts } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '3000' },
    size: { type: 'string', default: '8061' },
    delay: { type: 'string', default: '1.0' },
    'content-length': { type: 'boolean', default: false },
    'ctx-aware': { type: 'boolean', default: false },
  },
});
const size = Number.parseInt(opts.size, 10);
const delayMs = Number.parseFloat(opts.delay) * 1000;

// Epoch ns: the high-resolution time origin (epoch, sub-ms) plus the monotonic time since.
const originNs = BigInt(Math.round(performance.timeOrigin * 1000)) * 1000n;
const nowNs = () => originNs + BigInt(Math.round(performance.now() * 1e6));

function emit(event, fields) {
  const line = Object.assign(
    { ts_ns: nowNs().toString(),
      actor: 'server', impl: 'node', pid: process.pid, event,
      asked: null, written: null, error: null, errno: null, local: null, remote: null, detail: null },
    fields);
  fs.writeSync(1, JSON.stringify(line).replace(/^\{"ts_ns":"(\d+)"/, '{"ts_ns":$1') + '\n');
}

function addr(host, port) {
  if (host === undefined) return null;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function failure(err) {
  // A syscall error carries its errno name in err.code (EPIPE, ECONNRESET);
  // Node's own stream errors (ERR_STREAM_DESTROYED) never reached the kernel.
  return { error: err.message, errno: err.syscall ? err.code : null, detail: `code=${err.code}` };
}

const server = http.createServer((req, res) => {
  const sock = req.socket;
  const ends = { local: addr(sock.localAddress, sock.localPort), remote: addr(sock.remoteAddress, sock.remotePort) };
  const state = () => `socket.destroyed=${sock.destroyed} socket.writable=${sock.writable} res.destroyed=${res.destroyed}`;
  emit('request', { detail: `${req.method} ${req.url}`, ...ends });
  sock.once('end', () => emit('read_eof', { detail: `socket 'end' (peer FIN); ${state()}`, ...ends }));
  sock.once('close', (hadError) => emit('close', { detail: `socket 'close' hadError=${hadError}`, ...ends }));
  sock.on('error', (err) => emit('log', { ...failure(err), detail: `socket 'error' code=${err.code}`, ...ends }));
  req.once('close', () => emit('close', { detail: `req 'close'; ${state()}`, ...ends }));
  res.once('close', () => emit('close', { detail: `res 'close' writableFinished=${res.writableFinished}`, ...ends }));

  setTimeout(() => {
    const destroyedBeforeWrite = sock.destroyed;
    emit('log', { detail: `before write: ${state()}`, ...ends });
    if (opts['ctx-aware'] && (destroyedBeforeWrite || req.destroyed)) {
      emit('abort', { detail: 'client gone before the write (socket destroyed): write skipped', ...ends });
      emit('response', { detail: 'handler returned without writing', ...ends });
      return;
    }
    if (opts['content-length']) res.setHeader('Content-Length', String(size));
    const accepted = res.write(Buffer.alloc(size), (err) => {
      if (err) emit('write_error', { asked: size, ...failure(err), ...ends });
      else emit('write', { asked: size, written: size, detail: 'res.write callback', ...ends });
    });
    emit('log', { detail: `res.write returned ${accepted}; socket destroyed before write: ${destroyedBeforeWrite}`, ...ends });
    res.end((err) => {
      if (err) emit('write_error', { ...failure(err), detail: `res.end: code=${err.code}`, ...ends });
      else emit('log', { detail: 'res.end callback: response flushed', ...ends });
    });
    emit('response', { detail: 'handler returned', ...ends });
  }, delayMs);
});

server.on('clientError', (err, socket) => {
  emit('log', { ...failure(err), detail: `clientError code=${err.code}` });
  socket.destroy();
});
// A port that is taken: one line naming the errno (EADDRINUSE), not a stack trace whose tail hides it.
server.on('error', (err) => {
  emit('log', { ...failure(err), detail: `listen on ${addr(opts.host, opts.port)} failed: ${err.code}` });
  process.stderr.write(`node server: listen on ${addr(opts.host, opts.port)} failed: ${err.code} (${err.message})\n`);
  process.exit(1);
});
server.listen(Number.parseInt(opts.port, 10), opts.host, () => {
  const a = server.address();
  emit('listening', { local: addr(a.address, a.port) });
});
process.on('SIGTERM', () => process.exit(0));
