// Load generator for Tandem's benchmark: many official socket.io-client connections in one
// Node process, driven by bench/run.py.
//
//   node loadgen/run.js <config.json>
//
// The config names the workload and its parameters (see bench/run.py). The process talks to
// the runner in JSON lines: at each measuring point it prints {"mark": name, ...} and waits
// for one line on stdin, so the runner can read the server's CPU time and memory right
// there; the last line it prints is {"result": {...}}.
//
// Per delivered message the handlers do only what they must: count it, check its seq is
// above the last one, and (when measuring latency) subtract two clock readings. The
// process reports its own CPU use over each measured window so the runner can tell when
// the load generator, not the server, was the limit.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const readline = require("node:readline");
const { io } = require("socket.io-client");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const EVENT = cfg.event || "kanban.task.moved";

const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
const unread = [];
lines.on("line", (line) => {
  const resolve = waiting.shift();
  if (resolve) resolve(line);
  else unread.push(line);
});

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// run.py --profile: the V8 profile of this process over the measured window (between the marks).
let inspectorSession = null;
function post(method) {
  return new Promise((resolve, reject) =>
    inspectorSession.post(method, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

// Print a mark and wait until the runner has taken its reading.
async function mark(name, extra) {
  if (cfg.cpuProfile && name === "after" && inspectorSession) {
    const { profile } = await post("Profiler.stop");
    fs.writeFileSync(cfg.cpuProfile, JSON.stringify(profile));
    inspectorSession.disconnect();
    inspectorSession = null;
  }
  if (cfg.cpuProfile && name === "before") {
    inspectorSession = new (require("node:inspector").Session)();
    inspectorSession.connect();
    await post("Profiler.enable");
    await post("Profiler.start");
  }
  send({ mark: name, ...extra });
  if (unread.length > 0) return Promise.resolve(unread.shift());
  return new Promise((resolve) => waiting.push(resolve));
}

// CLOCK_MONOTONIC in ms, as the servers stamp it (the latency workload compares the two):
// performance.now() runs on the same clock from this process's start, and allocates nothing
// (process.hrtime.bigint() made a BigInt per delivery).
const MONO_OFFSET_MS = (() => {
  performance.now(); // the first calls initialise things: not part of the offset
  process.hrtime.bigint();
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = hr - (before + after) / 2;
    }
  }
  return offset;
})();
function monoMs() {
  return performance.now() + MONO_OFFSET_MS;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// CPU use of this process between start() and stop(), as a share of one core.
function cpuMeter() {
  let c0, t0;
  return {
    start() {
      c0 = process.cpuUsage();
      t0 = monoMs();
    },
    stop() {
      const c = process.cpuUsage(c0);
      const wall = monoMs() - t0;
      return { cpuPct: wall > 0 ? (100 * (c.user + c.system)) / 1000 / wall : 0, wallMs: wall };
    },
  };
}

function tokenFor(i) {
  return cfg.tokens[i % cfg.tokens.length];
}

function connectOne(i) {
  return new Promise((resolve, reject) => {
    const socket = io(cfg.url, {
      transports: ["websocket"],
      auth: { token: tokenFor(i) },
      forceNew: true,
      reconnection: false,
      timeout: 60000,
    });
    socket.once("connect", () => resolve(socket));
    // Tandem refuses handshakes past the ones it checks at once (`rate_limited`, with retryAfterMs):
    // try again when it says, as a client should; any other refusal fails the workload.
    let refusals = 0;
    const refused = (err) => {
      const wait = err.data && err.data.retryAfterMs;
      if (err.message === "rate_limited" && wait && ++refusals <= 100) {
        socket.once("connect_error", refused);
        setTimeout(() => socket.connect(), wait);
        return;
      }
      socket.close();
      reject(new Error(`connect ${i}: ${err.message}`));
    };
    socket.once("connect_error", refused);
  });
}

// Open n connections, at most `concurrency` handshakes in flight; returns sockets and rate.
async function connectMany(n, concurrency) {
  const sockets = new Array(n);
  let next = 0;
  const t0 = monoMs();
  async function worker() {
    while (next < n) {
      const i = next++;
      sockets[i] = await connectOne(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const seconds = (monoMs() - t0) / 1000;
  return { sockets, seconds, rate: n / seconds };
}

function ack(socket, event, payload, timeoutMs = 600000) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

async function subscribeAll(sockets, room) {
  const acks = await Promise.all(sockets.map((s) => ack(s, "subscribe", { room })));
  const bad = acks.find((a) => !a || a.ok !== true);
  if (bad) throw new Error(`subscribe refused: ${JSON.stringify(bad)}`);
}

function closeAll(sockets) {
  for (const s of sockets) if (s) s.close();
}

function percentiles(values) {
  if (values.length === 0) return { n: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    n: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted[sorted.length - 1],
  };
}

// Count deliveries on every socket; `onEach` (optional) sees each envelope.
function listen(sockets, onEach) {
  const state = { delivered: 0, outOfOrder: 0, last: new Float64Array(sockets.length) };
  sockets.forEach((socket, i) => {
    socket.on(EVENT, (env) => {
      state.delivered++;
      if (env.seq <= state.last[i]) state.outOfOrder++;
      state.last[i] = env.seq;
      if (onEach) onEach(env, i);
    });
  });
  return state;
}

function waitFor(predicate, timeoutMs, everyMs = 1) {
  return new Promise((resolve) => {
    const t0 = monoMs();
    const tick = () => {
      if (predicate() || monoMs() - t0 > timeoutMs) resolve();
      else setTimeout(tick, everyMs);
    };
    tick();
  });
}

// ---------------------------------------------------------------- workloads

// Hold N idle connections: the runner reads the server's RSS before and after.
async function idle() {
  await mark("before");
  const meter = cpuMeter();
  meter.start();
  const { sockets, seconds, rate } = await connectMany(cfg.connections, cfg.concurrency || 100);
  const load = meter.stop();
  await sleep(cfg.settleMs ?? 1000);
  await mark("after", { connectSeconds: seconds });
  closeAll(sockets);
  return { connections: sockets.length, connectSeconds: seconds, connectRate: rate, loadgen: load };
}

// One trigger makes the server broadcast `count` envelopes to a room of `clients`.
async function fanout() {
  const { sockets } = await connectMany(cfg.clients, cfg.concurrency || 100);
  await subscribeAll(sockets, cfg.room);
  const state = listen(sockets);
  const driver = sockets[0];

  // Warm up both servers' code paths before measuring.
  const warm = cfg.warmup ?? 20;
  if (warm > 0) {
    await ack(driver, "bench.fanout", { room: cfg.room, count: warm, size: cfg.size });
    await waitFor(() => state.delivered >= warm * sockets.length, 30000);
  }
  state.delivered = 0;
  state.outOfOrder = 0;

  const expected = cfg.count * sockets.length;
  await mark("before");
  const meter = cpuMeter();
  meter.start();
  const t0 = monoMs();
  let tLast = t0;
  const done = new Promise((resolve) => {
    const check = () => {
      if (state.delivered >= expected) resolve();
      else if (monoMs() - t0 > cfg.timeoutMs) resolve();
      else setTimeout(check, 1);
    };
    check();
  });
  const sent = ack(driver, "bench.fanout", { room: cfg.room, count: cfg.count, size: cfg.size });
  await done;
  tLast = monoMs();
  const load = meter.stop();
  const ackReply = await sent;
  await mark("after");
  closeAll(sockets);
  const seconds = (tLast - t0) / 1000;
  return {
    clients: sockets.length,
    broadcasts: cfg.count,
    delivered: state.delivered,
    expected,
    outOfOrder: state.outOfOrder,
    seconds,
    deliveriesPerSec: state.delivered / seconds,
    ack: ackReply,
    loadgen: load,
  };
}

// Open loop: `rate` bench.emit triggers per second for `seconds`, each one broadcast to the
// room; latency is the server's stamp (monotonic ms) to this process's handler.
async function latency() {
  const { sockets } = await connectMany(cfg.clients, cfg.concurrency || 100);
  await subscribeAll(sockets, cfg.room);
  const samples = [];
  // Each broadcast's first delivery (the server's stamp to the first handler: the server's share)
  // apart from the spread over the room, which is mostly this process parsing one frame at a time.
  const firstSamples = [];
  let newestSeq = 0;
  let recording = false;
  const state = listen(sockets, (env) => {
    if (!recording) return;
    const latency = monoMs() - env.data.t;
    samples.push(latency);
    if (env.seq > newestSeq) {
      newestSeq = env.seq;
      firstSamples.push(latency);
    }
  });
  const driver = sockets[0];
  const payload = { room: cfg.room, size: cfg.size };

  // Warm up at the same rate, unrecorded.
  await openLoop(driver, payload, cfg.rate, cfg.warmupSeconds ?? 1);
  await sleep(200);
  state.delivered = 0;
  state.outOfOrder = 0;
  recording = true;

  await mark("before");
  const meter = cpuMeter();
  meter.start();
  const sentCount = await openLoop(driver, payload, cfg.rate, cfg.seconds);
  const expected = sentCount * sockets.length;
  await waitFor(() => state.delivered >= expected, 5000);
  const load = meter.stop();
  recording = false;
  await mark("after");
  closeAll(sockets);
  return {
    clients: sockets.length,
    rate: cfg.rate,
    sent: sentCount,
    delivered: state.delivered,
    expected,
    outOfOrder: state.outOfOrder,
    latencyMs: percentiles(samples),
    firstLatencyMs: percentiles(firstSamples),
    loadgen: load,
  };
}

// Emit on a fixed schedule, whatever the replies: due = elapsed * rate.
async function openLoop(socket, payload, rate, seconds) {
  const t0 = monoMs();
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((monoMs() - t0) / 1000) * rate) + 1);
    while (sent < due) {
      socket.emit("bench.emit", payload);
      sent++;
    }
    await sleep(1);
  }
  return sent;
}

// ---------------------------------------------------------------- product path

// Tandem only: real PATCH /api/orgs/{org}/members/{user} role changes, through the outbox
// and dispatcher, to `clients` subscribers of the org room. Each target member's role
// alternates, starting from the role it has now, so every PATCH is a change and produces one
// org.member.updated; a target's events reach each subscriber in order, so a subscriber's
// k-th event for a target matches that target's k-th PATCH.
//
// "The role it has now" matters: a PATCH to the role a member already has answers 200 and
// emits nothing, and run.py runs product-10 and product-1000 on one server start, so the
// second finds the targets on whatever role the first left them. Assuming they all start on
// the first role left one event per such target missing for good: `allDelivered` never held
// (each phase waited out its 20 s timeout, so changes/s fell to ~8-15), and each of those
// targets' events was matched to its previous PATCH (latencies of 20-35 s, "lost 0").
async function product() {
  const api = new URL(cfg.api.base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency || 32 });
  const roles = cfg.api.roles || ["Admin", "Member"];
  const targets = cfg.api.targets;
  const sendTimes = new Map(targets.map((t) => [t, []]));
  // Per target, how many of its changes reached a first subscriber: a change's first delivery
  // (the server's share of the latency: REST, outbox, dispatch, the first write) apart from
  // the spread over the room, which on one load-generator core is mostly its own parsing.
  const firstSeen = new Map(targets.map((t) => [t, 0]));
  const inFlight = new Set();
  let errors = 0;
  const now = await memberRoles(api, agent);
  // Per target, the index in `roles` of its first PATCH: the role after the one it has.
  const firstRole = new Map(
    targets.map((t) => {
      if (!now.has(t)) throw new Error(`target ${t} is not a member of ${cfg.api.orgId}`);
      return [t, (roles.indexOf(now.get(t)) + 1) % roles.length];
    }),
  );
  const targetRolesAtStart = {}; // e.g. {"Member": 20, "Admin": 180}: reported with the result
  for (const t of targets) targetRolesAtStart[now.get(t)] = (targetRolesAtStart[now.get(t)] || 0) + 1;

  function patch(target) {
    const times = sendTimes.get(target);
    const body = JSON.stringify({ role: roles[(firstRole.get(target) + times.length) % roles.length] });
    times.push(monoMs());
    inFlight.add(target);
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: api.hostname,
          port: api.port,
          method: "PATCH",
          path: `/api/orgs/${cfg.api.orgId}/members/${target}`,
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${cfg.api.token}`,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            inFlight.delete(target);
            if (res.statusCode !== 200) {
              errors++;
              times.pop(); // no change, no event
              if (errors <= 3) console.error(`PATCH ${target}: ${res.statusCode}`);
            }
            resolve();
          });
        },
      );
      req.on("error", (err) => {
        inFlight.delete(target);
        times.pop();
        errors++;
        if (errors <= 3) console.error(`PATCH ${target}: ${err.message}`);
        resolve();
      });
      req.end(body);
    });
  }

  const { sockets } = await connectMany(cfg.clients, 100);
  await subscribeAll(sockets, cfg.room);
  const seen = sockets.map(() => new Map()); // per subscriber: target -> events received
  const samples = [];
  const firstSamples = [];
  let received = 0;
  let recording = false;
  sockets.forEach((socket, i) => {
    socket.on(cfg.event || "org.member.updated", (env) => {
      const target = env.data && env.data.member && env.data.member.userId;
      const times = sendTimes.get(target);
      if (!times) return;
      const k = seen[i].get(target) || 0;
      seen[i].set(target, k + 1);
      received++;
      if (recording && k < times.length) {
        const now = monoMs();
        samples.push(now - times[k]);
        if (k === firstSeen.get(target)) {
          firstSeen.set(target, k + 1);
          firstSamples.push(now - times[k]);
        }
      } else if (k === firstSeen.get(target)) firstSeen.set(target, k + 1);
    });
  });

  let next = 0;
  function freeTarget() {
    for (let tries = 0; tries < targets.length; tries++) {
      const t = targets[next++ % targets.length];
      if (!inFlight.has(t)) return t;
    }
    return null;
  }

  async function closedLoop(seconds, workers) {
    const tEnd = monoMs() + seconds * 1000;
    let count = 0;
    async function worker() {
      while (monoMs() < tEnd) {
        const t = freeTarget();
        if (t === null) {
          await sleep(1);
          continue;
        }
        await patch(t);
        count++;
      }
    }
    await Promise.all(Array.from({ length: workers }, worker));
    return count;
  }

  async function fixedRate(rate, seconds) {
    const t0 = monoMs();
    const total = Math.round(rate * seconds);
    const pending = [];
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((monoMs() - t0) / 1000) * rate) + 1);
      while (sent < due) {
        const t = freeTarget();
        if (t === null) break;
        pending.push(patch(t));
        sent++;
      }
      await sleep(1);
    }
    await Promise.all(pending);
    return sent;
  }

  const sentTotal = () => [...sendTimes.values()].reduce((a, t) => a + t.length, 0);
  const allDelivered = () => received >= sentTotal() * sockets.length;
  // Deliveries owed to the subscribers so far and not (yet) received.
  const undelivered = () => sentTotal() * sockets.length - received;

  await closedLoop(cfg.warmupSeconds ?? 1, cfg.concurrency || 32); // warm-up
  await waitFor(allDelivered, 10000);
  const warmupUndelivered = undelivered();

  // Throughput: closed loop, as many changes as the server takes.
  recording = true;
  await mark("before");
  const meter = cpuMeter();
  meter.start();
  const r0 = received;
  const t0 = monoMs();
  const changes = await closedLoop(cfg.seconds, cfg.concurrency || 32);
  await waitFor(allDelivered, 20000);
  const seconds = (monoMs() - t0) / 1000;
  const load = meter.stop();
  const throughput = {
    changes,
    seconds,
    changesPerSec: changes / seconds,
    deliveries: received - r0,
    deliveriesPerSec: (received - r0) / seconds,
    undelivered: undelivered(),
    latencyMs: percentiles(samples),
    loadgen: load,
  };
  await mark("after");

  // Latency at a fixed rate (half the goal).
  samples.length = 0;
  firstSamples.length = 0;
  const meter2 = cpuMeter();
  meter2.start();
  const r1 = received;
  const sent = await fixedRate(cfg.rate, cfg.seconds);
  await waitFor(allDelivered, 20000);
  const atRate = {
    rate: cfg.rate,
    sent,
    deliveries: received - r1,
    // What this phase's sends owe plus whatever the throughput phase still owed when this one
    // began, so that expected - deliveries (run.py's "lost") is what never arrived.
    expected: undelivered() + (received - r1),
    latencyMs: percentiles(samples),
    firstLatencyMs: percentiles(firstSamples),
    loadgen: meter2.stop(),
  };
  closeAll(sockets);
  agent.destroy();
  return { clients: sockets.length, errors, targetRolesAtStart, warmupUndelivered, throughput, atRate };
}

// Tandem only: what one API request costs the server before any change, as the floor under
// the product path's rate. For each of cfg.paths ({name: path}) in turn: a warm-up, then a closed
// loop of GETs with cfg.concurrency in flight for cfg.seconds, between marks "before:<name>" and
// "after:<name>" (run.py reads the server's CPU at each).
async function floor() {
  const api = new URL(cfg.api.base);
  const concurrency = cfg.concurrency || 32;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let errors = 0;
  function fail(what) {
    if (++errors <= 3) console.error(what);
  }

  function get(path) {
    return new Promise((resolve) => {
      const req = http.request(
        { host: api.hostname, port: api.port, method: "GET", path, agent,
          headers: { authorization: `Bearer ${cfg.api.token}` } },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) fail(`GET ${path}: ${res.statusCode}`);
            resolve();
          });
        },
      );
      req.on("error", (err) => {
        fail(`GET ${path}: ${err.message}`);
        resolve();
      });
      req.end();
    });
  }

  async function closedLoop(path, seconds) {
    const tEnd = monoMs() + seconds * 1000;
    let count = 0;
    async function worker() {
      while (monoMs() < tEnd) {
        await get(path);
        count++;
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker));
    return count;
  }

  const paths = {};
  for (const [name, path] of Object.entries(cfg.paths)) {
    await closedLoop(path, cfg.warmupSeconds ?? 0.5);
    await mark(`before:${name}`);
    const meter = cpuMeter();
    meter.start();
    const t0 = monoMs();
    const requests = await closedLoop(path, cfg.seconds);
    const seconds = (monoMs() - t0) / 1000;
    paths[name] = { path, requests, seconds, requestsPerSec: requests / seconds, loadgen: meter.stop() };
    await mark(`after:${name}`);
  }
  agent.destroy();
  return { paths, errors };
}

// userId -> role of every member of the benchmark organization (GET /api/orgs/{org}/members).
function memberRoles(api, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: api.hostname,
        port: api.port,
        method: "GET",
        path: `/api/orgs/${cfg.api.orgId}/members`,
        agent,
        headers: { authorization: `Bearer ${cfg.api.token}` },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) {
            reject(new Error(`GET members: ${res.statusCode} ${text.slice(0, 200)}`));
            return;
          }
          resolve(new Map(JSON.parse(text).members.map((m) => [m.userId, m.role])));
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

// ---------------------------------------------------------------- reconnect storm

// bench/reconnect_storm.py: cfg.clients ([{token, rooms}]) each hold one socket with the web SDK's
// reconnect settings, subscribed to its rooms; on every (re)connect a client subscribes again, on
// Tandem with `after` = the last seq it saw in the room (as the SDK does). A writer makes changes at
// cfg.rate a second (Tandem: REST PATCHes from cfg.writes; the reference: `bench.emit` from a socket
// of its own). The runner restarts the server between the marks "restart" (it answers with the
// times of the SIGTERM, the old server's exit and the new one's readiness) and "written" (it answers
// with what each room's log holds, Tandem only); the last mark, "converged", comes once every
// client is subscribed again and holds every event of its rooms (or at cfg.timeoutMs).
async function storm() {
  const tandem = cfg.server === "tandem";
  const rate = cfg.rate || 20;
  const clients = cfg.clients.map((c) => ({
    token: c.token,
    rooms: c.rooms,
    socket: null,
    gen: 0,
    last: c.rooms.map(() => 0), // the last seq seen per room (Tandem)
    seqs: c.rooms.map(() => []), // every seq received per room, in arrival order (Tandem)
    got: c.rooms.map(() => 0), // durable events received per room
    subscribedAt: c.rooms.map(() => 0),
    connectedAt: 0,
    lastDurableAt: 0,
    connects: 0,
    disconnects: 0,
    connectErrors: 0,
    subscribeErrors: 0,
    duplicates: 0,
    resyncs: 0,
    replayed: 0,
    recovered: 0,
    notRecovered: 0,
    gaveUp: false,
    refused: 0, // connects the server refused (the handshake cap, a bad token)
    connectsAt: [], // when each connect succeeded
    attempts: [], // when each reconnect attempt began, and when each connect failed
    errorsAt: [],
  }));

  const subscribedSince = (c, t) => c.subscribedAt.every((s) => s > t);
  const errorKinds = new Map(); // connect_error message -> how many

  function subscribe(c, r, gen) {
    if (c.gen !== gen || !c.socket.connected) return;
    const payload = tandem ? { room: c.rooms[r], after: c.last[r] } : { room: c.rooms[r] };
    c.socket.timeout(cfg.ackTimeoutMs || 30000).emit("subscribe", payload, (err, ack) => {
      if (err || !ack || ack.ok !== true) {
        c.subscribeErrors++;
        if (c.subscribeErrors <= 3 && ack) console.error(`subscribe ${c.rooms[r]}: ${JSON.stringify(ack)}`);
        setTimeout(() => subscribe(c, r, gen), ack && ack.error && ack.error.retryAfterMs ? ack.error.retryAfterMs : 500);
        return;
      }
      if (c.gen !== gen) return;
      c.replayed += ack.replayed || 0;
      c.subscribedAt[r] = monoMs();
      if (c.whenSubscribed && subscribedSince(c, 0)) c.whenSubscribed();
    });
  }

  function open(c) {
    const socket = io(cfg.url, {
      transports: ["websocket"],
      auth: { token: c.token },
      forceNew: true,
      // The web SDK's settings (web/src/sdk/transport.ts); it never stops trying.
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      timeout: 10000,
    });
    c.socket = socket;
    socket.on("connect", () => {
      const gen = ++c.gen;
      c.connects++;
      c.connectedAt = monoMs();
      if (c.connectsAt.length < 100) c.connectsAt.push(c.connectedAt);
      if (socket.recovered) {
        // Node's connection state recovery put the socket back in its rooms and sent what it missed.
        c.recovered++;
        for (let r = 0; r < c.rooms.length; r++) c.subscribedAt[r] = c.connectedAt;
        return;
      }
      if (c.connects > 1) c.notRecovered++;
      for (let r = 0; r < c.rooms.length; r++) subscribe(c, r, gen);
    });
    // A refusal by the server ends Socket.IO's own retries: the SDK (web/src/sdk/connection.ts)
    // connects again after a backoff of its own, 0.5-1 s doubling to 7.5-15 s, reset on connect,
    // and never sooner than a refusal's retryAfterMs.
    let manual = 0;
    let manualTimer = null;
    const reconnectByHand = (atLeastMs = 0) => {
      if (manualTimer) return;
      const exp = Math.min(15000, 1000 * 2 ** manual++);
      manualTimer = setTimeout(() => {
        manualTimer = null;
        if (!socket.connected && !socket.active) socket.connect();
      }, Math.max(atLeastMs, exp / 2 + Math.random() * (exp / 2)));
    };
    socket.on("connect", () => {
      manual = 0;
    });
    socket.on("disconnect", (reason) => {
      c.disconnects++;
      if (reason === "io server disconnect") reconnectByHand();
    });
    socket.on("connect_error", (err) => {
      c.connectErrors++;
      const kind = String(err && err.message).slice(0, 80);
      errorKinds.set(kind, (errorKinds.get(kind) || 0) + 1);
      if (c.errorsAt.length < 100) c.errorsAt.push(monoMs());
      if (!socket.active) {
        c.refused++;
        const hint = err && err.data && err.data.retryAfterMs;
        reconnectByHand(typeof hint === "number" && hint > 0 ? hint : 0);
      }
    });
    socket.io.on("reconnect_attempt", () => {
      if (c.attempts.length < 100) c.attempts.push(monoMs());
    });
    socket.io.on("reconnect_failed", () => {
      c.gaveUp = true;
    });
    socket.onAny((event, env) => {
      if (event === "resync.required") {
        c.resyncs++;
        return;
      }
      if (!env || env.seq == null) return; // ephemeral: presence and the like
      const r = c.rooms.indexOf(env.room);
      if (r < 0) return;
      if (tandem) {
        if (env.seq <= c.last[r]) {
          c.duplicates++;
          return;
        }
        c.last[r] = env.seq;
        c.seqs[r].push(env.seq);
      }
      c.got[r]++;
      c.lastDurableAt = monoMs();
    });
  }

  // Connect everyone, at most cfg.concurrency handshakes at a time, and wait for every subscribe.
  const t0 = monoMs();
  let next = 0;
  async function opener() {
    while (next < clients.length) {
      const c = clients[next++];
      await new Promise((resolve) => {
        c.whenSubscribed = resolve;
        open(c);
      });
      c.whenSubscribed = null;
    }
  }
  await Promise.all(Array.from({ length: Math.min(cfg.concurrency || 100, clients.length) }, opener));
  const connectSeconds = (monoMs() - t0) / 1000;
  if (!clients.every((c) => subscribedSince(c, 0))) throw new Error("not every client subscribed before the restart");

  const writer = tandem ? restWriter() : socketWriter();
  await mark("live", { connectSeconds });
  writer.start(rate);
  await sleep((cfg.beforeSeconds ?? 3) * 1000);

  const meter = cpuMeter();
  meter.start();
  const times = JSON.parse(await mark("restart", { writer: writer.stats() }));
  // The changes refused while the server was down are sent again (the SDK's offline queue), with one
  // change to every room: what people did during the deploy, arriving while clients reconnect.
  await writer.flush();
  await sleep((cfg.afterSeconds ?? 1) * 1000);
  await writer.stop();
  const answer = JSON.parse(await mark("written", { writer: writer.stats() }));
  // Tandem: every seq of each room's durable log. The reference has none: what its writer got acked.
  const expected = tandem ? answer.expected : writer.acked();
  const expectedCount = (room) => (tandem ? (expected[room] || []).length : expected[room] || 0);
  const converged = (c) =>
    subscribedSince(c, times.sigterm) && c.rooms.every((room, r) => c.got[r] >= expectedCount(room));
  const done = () => (tandem ? clients.every(converged) : clients.every((c) => subscribedSince(c, times.sigterm)));
  await waitFor(done, cfg.timeoutMs || 120000, 10);
  const load = meter.stop();
  await mark("converged");

  let missing = 0;
  let extra = 0;
  let lost = 0;
  let clientsMissing = 0;
  const convergedAt = [];
  const resubscribedAt = [];
  // Each client's first attempt after the new server was ready: until then it was waiting out its
  // backoff, not the server.
  const firstAttempt = [];
  const serverShare = [];
  let errorsAfterReady = 0;
  let firstConnect = Infinity;
  for (const c of clients) {
    const back = c.connectsAt.find((t) => t > times.sigterm);
    if (back !== undefined) firstConnect = Math.min(firstConnect, back);
    const resub = Math.max(...c.subscribedAt);
    if (subscribedSince(c, times.sigterm)) resubscribedAt.push(resub);
    const attempt = c.attempts.find((t) => t >= times.ready);
    if (attempt !== undefined) firstAttempt.push(attempt);
    errorsAfterReady += c.errorsAt.filter((t) => t >= times.ready).length;
    let short = 0;
    c.rooms.forEach((room, r) => {
      if (tandem) {
        const want = new Set(expected[room] || []);
        const have = c.seqs[r].filter((s) => want.has(s)).length;
        short += want.size - have;
        extra += c.seqs[r].length - have;
      } else {
        short += Math.max(0, expectedCount(room) - c.got[r]);
      }
    });
    if (tandem) missing += short;
    else lost += short;
    if (short > 0) clientsMissing++;
    // Tandem: back, subscribed and holding every event; the reference: back and subscribed.
    if (subscribedSince(c, times.sigterm) && (short === 0 || !tandem)) {
      const done = tandem ? Math.max(resub, c.lastDurableAt) : resub;
      if (tandem) convergedAt.push(done);
      if (attempt !== undefined) serverShare.push((done - attempt) / 1000);
    }
  }
  const sum = (key) => clients.reduce((a, c) => a + (typeof c[key] === "boolean" ? Number(c[key]) : c[key]), 0);
  const rel = (values, t) => percentiles(values.map((v) => (v - t) / 1000));
  const result = {
    server: cfg.server,
    clients: clients.length,
    roomsPerClient: clients[0] ? clients[0].rooms.length : 0,
    connectSeconds,
    times,
    firstConnect: Number.isFinite(firstConnect) ? firstConnect : null,
    resubscribed: resubscribedAt.length,
    resubscribedSeconds: rel(resubscribedAt, times.ready),
    converged: tandem ? convergedAt.length : null,
    convergedSeconds: tandem ? rel(convergedAt, times.ready) : null,
    lastResubscribed: resubscribedAt.length ? Math.max(...resubscribedAt) : null,
    lastConverged: tandem && convergedAt.length ? Math.max(...convergedAt) : null,
    reconnects: clients.reduce((a, c) => a + Math.max(0, c.connects - 1), 0),
    disconnects: sum("disconnects"),
    connectErrors: sum("connectErrors"),
    connectErrorsAfterReady: errorsAfterReady,
    refused: sum("refused"),
    connectErrorKinds: Object.fromEntries(errorKinds),
    firstAttemptSeconds: rel(firstAttempt, times.ready),
    attemptToDoneSeconds: percentiles(serverShare),
    clientsWithConnectErrors: clients.filter((c) => c.connectErrors > 0).length,
    subscribeErrors: sum("subscribeErrors"),
    gaveUp: sum("gaveUp"),
    duplicates: sum("duplicates"),
    resyncs: sum("resyncs"),
    clientsResynced: clients.filter((c) => c.resyncs > 0).length,
    replayed: sum("replayed"),
    recovered: sum("recovered"),
    notRecovered: sum("notRecovered"),
    missing,
    extra,
    lost,
    clientsMissing,
    expectedPerClient: clients.length ? clients[0].rooms.reduce((a, room) => a + expectedCount(room), 0) : 0,
    delivered: clients.reduce((a, c) => a + c.got.reduce((x, y) => x + y, 0), 0),
    writer: writer.stats(),
    loadgen: load,
  };
  closeAll(clients.map((c) => c.socket));
  return result;
}

// Tandem's writer: REST PATCHes round-robin over cfg.writes ({kind: "project" | "member", path,
// token}); a project's description changes, a member's role alternates. A write that fails (the
// server is down) waits in a queue and is sent again by flush().
function restWriter() {
  const api = new URL(cfg.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const writes = cfg.writes;
  const roles = writes.map(() => "Member");
  const counts = { ok: 0, failed: 0, resent: 0, burst: 0, noChange: 0 };
  const queue = [];
  const inFlight = new Set();
  let n = 0;
  let timer = null;

  function body(i) {
    if (writes[i].kind === "project") return { description: `storm ${++n}` };
    roles[i] = roles[i] === "Member" ? "Admin" : "Member";
    return { role: roles[i] };
  }

  function send(i, payload) {
    const data = JSON.stringify(payload);
    const p = new Promise((resolve) => {
      const req = http.request(
        {
          host: api.hostname,
          port: api.port,
          method: "PATCH",
          path: writes[i].path,
          agent,
          timeout: 10000,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(data),
            authorization: `Bearer ${writes[i].token}`,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode === 200) counts.ok++;
            else {
              counts.failed++;
              if (res.statusCode >= 500 || res.statusCode === 429) queue.push([i, payload]);
              else if (counts.failed <= 3) console.error(`PATCH ${writes[i].path}: ${res.statusCode}`);
            }
            resolve();
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => {
        counts.failed++;
        queue.push([i, payload]);
        resolve();
      });
      req.end(data);
    });
    inFlight.add(p);
    p.then(() => inFlight.delete(p));
    return p;
  }

  let k = 0;
  return {
    start(perSecond) {
      const t0 = monoMs();
      let sent = 0;
      timer = setInterval(() => {
        const due = Math.floor(((monoMs() - t0) / 1000) * perSecond);
        while (sent < due) {
          const i = k++ % writes.length;
          send(i, body(i));
          sent++;
        }
      }, 5);
    },
    flush() {
      const again = queue.splice(0);
      counts.resent += again.length;
      for (const [i, payload] of again) send(i, payload);
      for (let i = 0; i < writes.length; i++) {
        counts.burst++;
        send(i, body(i));
      }
    },
    async stop() {
      clearInterval(timer);
      while (inFlight.size > 0 || queue.length > 0) {
        await Promise.all([...inFlight]);
        const again = queue.splice(0);
        counts.resent += again.length;
        for (const [i, payload] of again) send(i, payload);
        if (again.length) await sleep(200);
      }
      counts.doneAt = monoMs();
      agent.destroy();
    },
    stats: () => ({ ...counts, queued: queue.length }),
    acked: () => null,
  };
}

// The reference's writer: `bench.emit {room}` round-robin over cfg.rooms from a socket of its own.
// An emit counts once the server acked it; one refused or unanswered while the server is down waits
// in a queue, and flush() sends it again.
function socketWriter() {
  const socket = io(cfg.url, {
    transports: ["websocket"],
    auth: { token: "writer" },
    forceNew: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    randomizationFactor: 0.5,
  });
  const rooms = cfg.rooms;
  const acked = Object.fromEntries(rooms.map((r) => [r, 0]));
  const counts = { ok: 0, failed: 0, resent: 0, burst: 0 };
  const queue = [];
  const inFlight = new Set();
  let timer = null;
  let k = 0;

  function send(room) {
    if (!socket.connected) {
      counts.failed++;
      queue.push(room);
      return;
    }
    const p = socket
      .timeout(5000)
      .emitWithAck("bench.emit", { room, size: 350 })
      .then(
        () => {
          counts.ok++;
          acked[room]++;
        },
        () => {
          counts.failed++;
          queue.push(room);
        },
      );
    inFlight.add(p);
    p.then(() => inFlight.delete(p));
  }

  return {
    start(perSecond) {
      const t0 = monoMs();
      let sent = 0;
      timer = setInterval(() => {
        const due = Math.floor(((monoMs() - t0) / 1000) * perSecond);
        while (sent < due) {
          send(rooms[k++ % rooms.length]);
          sent++;
        }
      }, 5);
    },
    async flush() {
      await waitFor(() => socket.connected, 60000, 10);
      const again = queue.splice(0);
      counts.resent += again.length;
      for (const room of again) send(room);
      for (const room of rooms) {
        counts.burst++;
        send(room);
      }
    },
    async stop() {
      clearInterval(timer);
      while (inFlight.size > 0 || queue.length > 0) {
        await Promise.all([...inFlight]);
        await waitFor(() => socket.connected, 60000, 10);
        const again = queue.splice(0);
        counts.resent += again.length;
        for (const room of again) send(room);
        if (again.length) await sleep(200);
      }
      counts.doneAt = monoMs();
      socket.close();
    },
    stats: () => ({ ...counts, queued: queue.length }),
    acked: () => ({ ...acked }),
  };
}

// ---------------------------------------------------------------- chat (bench/chat_load.py)

// Many people in many conversations, one socket each, as bench/chat_load.py's Python clients do:
// messages go out at cfg.rate over the conversations in turn (of a conversation's members, the
// one who has sent least), now and then after a chat.typing; every recipient answers each
// chat.message.created with chat.message.delivered, and every fifth with chat.message.read once
// that is acknowledged. The timings are wall-clock seconds, returned raw for chat_load.py to tally.
async function chat() {
  const { randomUUID } = require("node:crypto");
  const wall = () => (performance.timeOrigin + performance.now()) / 1000;
  const timeoutMs = 60000;
  const shared = { sent: {}, author: {}, deliveredEmit: [], refused: {} };
  const refuse = (key) => (shared.refused[key] = (shared.refused[key] || 0) + 1);
  const check = (what, answer) => {
    if (answer && answer.ok) return true;
    refuse(`${what}:${answer && answer.error ? answer.error.code : JSON.stringify(answer)}`);
    return false;
  };
  let closing = false;
  const clients = cfg.clients.map((c, index) => ({
    index,
    userId: c.userId,
    rooms: c.rooms,
    socket: null,
    arrivals: [], // [clientId, wall, emittedAt]
    receipts: [], // [messageId, recipientId, wall]
    acked: [], // [clientId, conversationId]
    sends: 0,
    disconnects: 0,
  }));

  let answering = 0; // receipts sent and not yet acknowledged
  async function answer(c, conversationId, messageId, read) {
    answering++;
    try {
      shared.deliveredEmit.push([messageId, c.userId, wall()]);
      const body = { conversationId, messageIds: [messageId] };
      check("delivered", await ack(c.socket, "chat.message.delivered", body, timeoutMs));
      if (read) check("read", await ack(c.socket, "chat.message.read", { conversationId, messageId }, timeoutMs));
    } catch (err) {
      refuse(`receipt:${(err && err.name) || "Error"}`); // a closed socket, an ack that never came
    } finally {
      answering--;
    }
  }

  function created(c, env) {
    const at = wall();
    const data = (env && env.data) || {};
    const message = data.message || {};
    if (message.authorId === c.userId) return; // one's own message, echoed: not a delivery
    c.arrivals.push([data.clientId, at, env.meta.emittedAt]);
    answer(c, data.conversationId, message.messageId, c.arrivals.length % 5 === 0);
  }

  function delivered(c, env) {
    const at = wall();
    const data = (env && env.data) || {};
    if (data.recipientId !== c.userId) c.receipts.push([data.messageId, data.recipientId, at]);
  }

  async function start(c) {
    c.socket = await connectOne(c.index);
    c.socket.on("chat.message.created", (env) => created(c, env));
    c.socket.on("chat.message.delivered", (env) => delivered(c, env));
    c.socket.on("disconnect", () => {
      if (!closing) c.disconnects++;
    });
    for (const room of c.rooms) {
      const a = await ack(c.socket, "subscribe", { room }, timeoutMs);
      if (!a || a.ok !== true) throw new Error(`subscribe ${room}: ${JSON.stringify(a)}`);
    }
  }

  async function sendOne(c, conversationId, k, typing) {
    if (typing) {
      ack(c.socket, "chat.typing", { conversationId, typing: true }, timeoutMs).then(
        (a) => check("typing", a),
        (err) => refuse(`typing:${(err && err.name) || "Error"}`),
      );
    }
    const clientId = randomUUID().replaceAll("-", "");
    shared.sent[clientId] = wall();
    let a;
    try {
      a = await ack(c.socket, "chat.message.send", { conversationId, clientId, text: `Message ${k}` }, timeoutMs);
    } catch (err) {
      a = { error: { code: (err && err.name) || "Error" } };
    }
    if (check("send", a)) {
      shared.author[a.messageId] = c.index;
      c.acked.push([clientId, conversationId]);
    }
  }

  const connectStarted = monoMs();
  for (let at = 0; at < clients.length; at += cfg.connectBatch) {
    await Promise.all(clients.slice(at, at + cfg.connectBatch).map(start));
  }
  const connectSeconds = (monoMs() - connectStarted) / 1000;

  await mark("before");
  const meter = cpuMeter();
  meter.start();
  const total = Math.floor(cfg.rate * cfg.seconds);
  const sends = [];
  const started = monoMs();
  for (let k = 0; k < total; k++) {
    const wait = started + (k * 1000) / cfg.rate - monoMs();
    if (wait > 0) await sleep(wait);
    const [conversationId, people] = cfg.conversations[k % cfg.conversations.length];
    let sender = people[0];
    for (const i of people) if (clients[i].sends < clients[sender].sends) sender = i;
    clients[sender].sends++;
    sends.push(sendOne(clients[sender], conversationId, k, cfg.typingEvery > 0 && k % cfg.typingEvery === 0));
  }
  const sendSeconds = (monoMs() - started) / 1000;
  await Promise.all(sends);
  // Until every accepted message has reached every recipient, every receipt is acknowledged and
  // receipts stop coming for 3 s, or nothing has come for 15 s, or 120 s have passed.
  const members = new Map(cfg.conversations.map(([id, people]) => [id, people.length]));
  const expected = clients.reduce((n, c) => n + c.acked.reduce((m, [, id]) => m + members.get(id) - 1, 0), 0);
  const arrived = () => clients.reduce((n, c) => n + c.arrivals.length, 0);
  const count = () => clients.reduce((n, c) => n + c.arrivals.length + c.receipts.length, 0);
  const deadline = monoMs() + 120000;
  let last = -1;
  let since = monoMs();
  while (monoMs() < deadline) {
    const now = count();
    if (now !== last) {
      last = now;
      since = monoMs();
    } else if (monoMs() - since >= (arrived() >= expected && answering === 0 ? 3000 : 15000)) break;
    await sleep(100);
  }
  const settledSeconds = (monoMs() - started) / 1000 - 3;
  const load = meter.stop();
  await mark("after");
  await sleep(500); // a duplicate would arrive now
  closing = true;
  closeAll(clients.map((c) => c.socket));
  return {
    connectSeconds,
    sendSeconds,
    settledSeconds,
    loadgen: load,
    ...shared,
    clients: clients.map((c) => ({
      arrivals: c.arrivals,
      receipts: c.receipts,
      acked: c.acked,
      disconnects: c.disconnects,
    })),
  };
}

const workloads = { idle, fanout, latency, product, floor, storm, chat };

workloads[cfg.workload]()
  .then((result) => {
    // Exit once stdout took the line: pipe writes past 64 KiB complete asynchronously.
    process.stdout.write(JSON.stringify({ result }) + "\n", () => process.exit(0));
  })
  .catch((err) => {
    process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }) + "\n", () =>
      process.exit(1),
    );
  });
