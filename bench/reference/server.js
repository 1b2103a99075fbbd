// Reference Socket.IO server for Tandem's benchmark: what a user would otherwise pick.
// Stock socket.io 4 defaults (perMessageDeflate off, in-memory adapter), the handshake and
// subscribe shape of Tandem's socket contract, and two bench-only trigger events.
//
//   node server.js --port 3100                  one process
//   node server.js --port 3100 --workers 2      node:cluster + @socket.io/redis-adapter
//   node server.js --port 3100 --recovery       with Socket.IO's connection state recovery (in memory:
//                                               it does not outlive the process)
//
// Prints one line "READY <port>" on stdout when it accepts connections.
"use strict";

const cluster = require("node:cluster");
const http = require("node:http");
const { parseArgs } = require("node:util");
const { Server } = require("socket.io");
const { EVENT, envelope, monoMs } = require("./envelope");

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "3100" },
    host: { type: "string", default: "127.0.0.1" },
    workers: { type: "string", default: "1" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    recovery: { type: "boolean", default: false },
  },
});
const port = Number(args.port);
const workers = Number(args.workers);

if (workers > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on("message", (msg) => {
      if (msg === "ready" && ++ready === workers) console.log(`READY ${port}`);
    });
  }
  cluster.on("exit", (worker, code) => {
    if (code !== 0) console.error(`worker ${worker.process.pid} exited with ${code}`);
  });
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    process.exit(0);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

async function main() {
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    serveClient: false,
    // Socket.IO's own defaults for it: a client back within 2 minutes gets its rooms and the packets
    // it missed, without the handshake's middleware running again.
    ...(args.recovery
      ? { connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true } }
      : {}),
  });

  if (workers > 1) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: args.redis });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }

  // Same cost shape as Tandem's handshake: refuse a missing token, join the user's room.
  io.use((socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (typeof token !== "string" || token.length === 0) return next(new Error("unauthorized"));
    socket.data.userId = token;
    next();
  });

  const seqs = new Map(); // room -> latest seq

  io.on("connection", (socket) => {
    socket.join(`user:${socket.data.userId}`);

    socket.on("subscribe", (payload, ack) => {
      const room = payload && payload.room;
      if (typeof room !== "string") return ack && ack({ ok: false, error: { code: "invalid", message: "room" } });
      socket.join(room);
      if (ack) ack({ ok: true, room, seq: seqs.get(room) || 0, replayed: 0 });
    });

    socket.on("unsubscribe", (payload, ack) => {
      socket.leave(payload && payload.room);
      if (ack) ack({ ok: true });
    });

    // Emit `count` envelopes to the room as fast as the server can, then ack.
    socket.on("bench.fanout", async ({ room, count, size }, ack) => {
      const t0 = monoMs();
      let seq = seqs.get(room) || 0;
      for (let i = 0; i < count; i++) {
        io.to(room).emit(EVENT, envelope(room, ++seq, size || 350));
        seqs.set(room, seq);
        // Let inbound traffic and socket writes through now and then, like an await would.
        if ((i & 15) === 15) await new Promise(setImmediate);
      }
      if (ack) ack({ ok: true, sent: count, emitMs: monoMs() - t0 });
    });

    // One envelope stamped now, for open-loop latency.
    socket.on("bench.emit", ({ room, size }, ack) => {
      const seq = (seqs.get(room) || 0) + 1;
      seqs.set(room, seq);
      io.to(room).emit(EVENT, envelope(room, seq, size || 350, monoMs()));
      if (ack) ack({ ok: true });
    });
  });

  httpServer.listen(port, args.host, () => {
    if (cluster.isWorker) process.send("ready");
    else console.log(`READY ${port}`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
