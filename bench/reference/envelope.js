// The benchmark envelope, shaped like Tandem's (SPEC §4): the same fields, the same
// compact JSON, padded to a target size so both servers put the same bytes on the wire.
// bench/tandem_server.py builds the identical object in Python.
"use strict";

const EVENT = "kanban.task.moved";

// Milliseconds on CLOCK_MONOTONIC: the same clock as Python's time.monotonic(), so a
// server in either language and the load generator can subtract their stamps.
function monoMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

function envelope(room, seq, size, t) {
  const env = {
    event: EVENT,
    version: 1,
    seq,
    room,
    data: {
      projectId: "p_bench",
      taskId: "t_" + seq,
      fromColumn: "In Progress",
      toColumn: "Review",
      position: 3,
      movedBy: "u_bench",
      t: t === undefined ? 0 : t,
      pad: "",
    },
    meta: {
      emittedAt: new Date().toISOString(),
      producer: "server",
      traceId: "1b4e28ba2fa1466ea1b2c3d4e5f60718",
      actorId: "u_bench",
    },
  };
  const missing = size - Buffer.byteLength(JSON.stringify(env));
  if (missing > 0) env.data.pad = "x".repeat(missing);
  return env;
}

module.exports = { EVENT, envelope, monoMs };
