// The official socket.io-client against a Tandem server, driven by tests/realtime/test_js_client.py.
//
//   node client.mjs <url> <token|-> [room] [after] [transports]
//
// Connects with auth {token} ("-": no token), subscribes to `room` (with `after` when given) and
// prints one JSON object per line: {"type":"connected"}, {"type":"ack","ack":...},
// {"type":"event","event":name,"payload":envelope}, {"type":"connect_error","message":...},
// {"type":"disconnect","reason":...}. It exits when its stdin closes.
import { io } from 'socket.io-client';

const [url, token, room, after, transports] = process.argv.slice(2);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const socket = io(url, {
  auth: token === '-' ? {} : { token },
  transports: transports ? transports.split(',') : ['polling', 'websocket'],
  reconnection: false,
});

socket.onAny((event, payload) => print({ type: 'event', event, payload }));

socket.on('connect_error', (error) => {
  print({ type: 'connect_error', message: error.message });
  process.exit(0);
});

socket.on('disconnect', (reason) => print({ type: 'disconnect', reason }));

socket.on('connect', async () => {
  print({ type: 'connected' });
  if (!room) return;
  const request = { room };
  if (after !== undefined && after !== '') request.after = Number(after);
  try {
    const ack = await socket.timeout(10_000).emitWithAck('subscribe', request);
    print({ type: 'ack', ack });
  } catch (error) {
    print({ type: 'ack_timeout', message: String(error) });
  }
});

process.stdin.resume();
process.stdin.on('end', () => {
  socket.close();
  process.exit(0);
});
