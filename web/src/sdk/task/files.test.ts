import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryStorage, TokenStore } from '../tokens';
import { attachment } from './fixtures';
import { formatSize, Uploads } from './files';

/** A stand-in for the browser's XMLHttpRequest: the test says how each request ends. */
class FakeXhr {
  static all: FakeXhr[] = [];
  status = 0;
  responseText = '';
  headers: Record<string, string> = {};
  url = '';
  body: unknown = null;
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.all.push(this);
  }
  open(_method: string, url: string) {
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: unknown) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  answer(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

describe('uploads', () => {
  beforeEach(() => {
    FakeXhr.all = [];
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
  });
  afterEach(() => vi.unstubAllGlobals());

  function setup(maxBytes: number | null = null) {
    const storage = memoryStorage();
    storage.setItem('tandem.accessToken', 'access-1');
    const done: unknown[] = [];
    const uploads = new Uploads('t_1', new TokenStore(storage), (a) => done.push(a), maxBytes);
    const file = new File(['hello world'], 'notes.txt', { type: 'text/plain' });
    uploads.add([file]);
    return { uploads, done, xhr: () => FakeXhr.all[FakeXhr.all.length - 1], upload: () => uploads.list.value[0] };
  }

  it('sends the file with the token, reports its progress, and hands the answer on', () => {
    const { xhr, upload, done } = setup();
    expect(xhr().url).toBe('/api/tasks/t_1/attachments');
    expect(xhr().headers.Authorization).toBe('Bearer access-1');
    expect((xhr().body as FormData).get('file')).toBeInstanceOf(File);
    xhr().upload.onprogress?.({ lengthComputable: true, loaded: 40, total: 100 });
    expect(upload().progress.value).toBe(0.4);
    xhr().answer(201, { attachment: attachment('att_1', 'notes.txt') });
    expect(upload().state.value).toBe('done');
    expect(done).toEqual([attachment('att_1', 'notes.txt')]);
  });

  it('says why a file was refused, and sends it again on retry', () => {
    const { uploads, xhr, upload } = setup(25 * 1024 * 1024);
    xhr().answer(413, { error: { code: 'too_large', message: 'too large' } });
    expect(upload().state.value).toBe('failed');
    expect(upload().error.value).toBe('The file is larger than the limit of 25.0 MB.');
    uploads.retry(upload().id);
    expect(FakeXhr.all).toHaveLength(2);
    expect(upload().state.value).toBe('uploading');
    xhr().answer(403, { error: { code: 'forbidden', message: 'You may not attach files here.' } });
    expect(upload().error.value).toBe('You may not attach files here.');
  });

  it('keeps an interrupted upload with its reason until dismissed', () => {
    const { uploads, xhr, upload } = setup();
    xhr().onerror?.();
    expect(upload().error.value).toBe('The upload was interrupted.');
    uploads.dismiss(upload().id);
    expect(uploads.list.value).toEqual([]);
  });

  it('writes sizes people read', () => {
    expect([formatSize(12), formatSize(2048), formatSize(3 * 1024 * 1024)]).toEqual(['12 B', '2.0 KB', '3.0 MB']);
  });
});
