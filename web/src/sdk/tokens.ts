import { signal } from '@preact/signals';
import type { components } from './api.gen';

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export type TokenPair = components['schemas']['TokenPair'];

const ACCESS = 'tandem.accessToken';
const REFRESH = 'tandem.refreshToken';

/** The login's tokens, kept in localStorage so a reload (or another tab) stays signed in. */
export class TokenStore {
  readonly authed = signal(false);
  private accessToken: string | null = null;
  private refreshToken: string | null = null;

  constructor(private storage: KeyValueStorage = globalThis.localStorage) {
    this.reload();
  }

  get access(): string | null {
    return this.accessToken;
  }

  get refresh(): string | null {
    return this.refreshToken;
  }

  /** Re-reads storage: another tab may have refreshed or cleared the tokens. */
  reload(): void {
    this.accessToken = this.storage.getItem(ACCESS);
    this.refreshToken = this.storage.getItem(REFRESH);
    this.authed.value = this.accessToken !== null;
  }

  set(pair: TokenPair): void {
    this.storage.setItem(ACCESS, pair.accessToken);
    this.storage.setItem(REFRESH, pair.refreshToken);
    this.reload();
  }

  clear(): void {
    this.storage.removeItem(ACCESS);
    this.storage.removeItem(REFRESH);
    this.reload();
  }
}

export function memoryStorage(): KeyValueStorage {
  const map = new Map<string, string>();
  return {
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => void map.set(key, value),
    removeItem: (key) => void map.delete(key),
  };
}
