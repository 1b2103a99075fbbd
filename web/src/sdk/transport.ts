import { io, type Socket } from 'socket.io-client';

/** What the SDK needs from a Socket.IO client; tests pass a fake with the same shape. */
export interface SocketLike {
  readonly connected: boolean;
  /** True while the socket will keep trying to (re)connect by itself. */
  readonly active: boolean;
  connect(): void;
  disconnect(): void;
  on(event: 'connect', listener: () => void): void;
  on(event: 'disconnect', listener: (reason: string) => void): void;
  on(event: 'connect_error', listener: (error: Error) => void): void;
  onAny(listener: (event: string, ...args: unknown[]) => void): void;
  emit(event: string, payload: unknown, ack: (response: unknown) => void): void;
}

export type SocketAuth = (callback: (data: { token: string }) => void) => void;

export interface SocketFactoryOptions {
  url: string;
  path: string;
  /** Called before every connection attempt, so each one carries a fresh token. */
  auth: SocketAuth;
}

export type SocketFactory = (options: SocketFactoryOptions) => SocketLike;

/** The real transport: socket.io-client over WebSocket, with its reconnect and exponential backoff. */
export const socketIoFactory: SocketFactory = ({ url, path, auth }) => {
  const socket: Socket = io(url, {
    path,
    transports: ['websocket'],
    auth: (cb) => auth(cb),
    autoConnect: false,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5_000,
    randomizationFactor: 0.5,
    // A handshake that hangs is abandoned and retried rather than waited on for 20 s.
    timeout: 10_000,
  });
  return {
    get connected() {
      return socket.connected;
    },
    get active() {
      return socket.active;
    },
    connect: () => void socket.connect(),
    disconnect: () => void socket.disconnect(),
    on: (event: string, listener: (...args: never[]) => void) => void socket.on(event as 'connect', listener as () => void),
    onAny: (listener) => void socket.onAny(listener),
    emit: (event, payload, ack) => void socket.emit(event, payload, ack),
  };
};
