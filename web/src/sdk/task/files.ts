import { signal, type Signal } from '@preact/signals';
import { newClientId } from '../offline-queue';
import type { TokenStore } from '../tokens';
import type { Attachment } from './types';

/** One file on its way up: its progress (0–1), and an error with a retry when it failed. */
export interface Upload {
  id: string;
  file: File;
  progress: Signal<number>;
  state: Signal<'uploading' | 'failed' | 'done'>;
  error: Signal<string | null>;
}

/** What the server says when it refuses an upload, in the SPEC's error shape; else a plain reason. */
function reasonOf(xhr: XMLHttpRequest, maxBytes: number | null): string {
  if (xhr.status === 0) return 'The upload was interrupted.';
  if (xhr.status === 413) return maxBytes ? `The file is larger than the limit of ${formatSize(maxBytes)}.` : 'The file is too large.';
  try {
    const body = JSON.parse(xhr.responseText) as { error?: { message?: string }; detail?: string };
    if (body.error?.message) return body.error.message;
    if (typeof body.detail === 'string') return body.detail;
  } catch {
    // not JSON: fall through
  }
  return `The server refused the file (${xhr.status}).`;
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Uploads a task's files with XMLHttpRequest (fetch reports no upload progress), each with its
 * own progress; a failed or interrupted one stays listed with its reason until retried or dismissed.
 */
export class Uploads {
  readonly list = signal<readonly Upload[]>([]);
  private readonly requests = new Map<string, XMLHttpRequest>();

  constructor(
    private readonly taskId: string,
    private readonly tokens: TokenStore,
    private readonly onDone: (attachment: Attachment) => void,
    private readonly maxBytes: number | null = null,
    private readonly baseUrl = '',
  ) {}

  add(files: Iterable<File>): void {
    for (const file of files) {
      const upload: Upload = { id: newClientId(), file, progress: signal(0), state: signal('uploading'), error: signal(null) };
      this.list.value = [...this.list.peek(), upload];
      this.send(upload);
    }
  }

  retry(id: string): void {
    const upload = this.list.peek().find((u) => u.id === id);
    if (upload && upload.state.peek() === 'failed') this.send(upload);
  }

  dismiss(id: string): void {
    this.requests.get(id)?.abort();
    this.requests.delete(id);
    this.list.value = this.list.peek().filter((u) => u.id !== id);
  }

  private send(upload: Upload): void {
    upload.state.value = 'uploading';
    upload.error.value = null;
    upload.progress.value = 0;
    const xhr = new XMLHttpRequest();
    this.requests.set(upload.id, xhr);
    xhr.open('POST', `${this.baseUrl}/api/tasks/${encodeURIComponent(this.taskId)}/attachments`);
    if (this.tokens.access) xhr.setRequestHeader('Authorization', `Bearer ${this.tokens.access}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) upload.progress.value = Math.min(1, e.loaded / e.total);
    };
    const fail = () => {
      this.requests.delete(upload.id);
      upload.state.value = 'failed';
      upload.error.value = reasonOf(xhr, this.maxBytes);
    };
    xhr.onerror = fail;
    xhr.onabort = fail;
    xhr.onload = () => {
      if (xhr.status !== 201 && xhr.status !== 200) return fail();
      this.requests.delete(upload.id);
      upload.progress.value = 1;
      upload.state.value = 'done';
      try {
        this.onDone((JSON.parse(xhr.responseText) as { attachment: Attachment }).attachment);
      } catch {
        // the event adds the file all the same
      }
      // A finished upload leaves the list shortly: the file shows among the attachments.
      setTimeout(() => this.dismiss(upload.id), 1_500);
    };
    const form = new FormData();
    form.append('file', upload.file, upload.file.name);
    xhr.send(form);
  }

  dispose(): void {
    for (const xhr of this.requests.values()) {
      xhr.onabort = null;
      xhr.abort();
    }
    this.requests.clear();
  }
}

/** Fetches a file with the person's token (a plain link would carry none) as a blob. */
export async function fetchBlob(url: string, tokens: TokenStore, signal?: AbortSignal): Promise<Blob> {
  const response = await fetch(url, { headers: tokens.access ? { Authorization: `Bearer ${tokens.access}` } : {}, signal });
  if (!response.ok) throw new Error(response.status === 404 ? 'The file is gone.' : `The file could not be fetched (${response.status}).`);
  return response.blob();
}

/** Downloads an attachment under its own name through a short-lived blob URL. */
export async function download(attachment: Attachment, tokens: TokenStore): Promise<void> {
  const blob = await fetchBlob(attachment.url, tokens);
  const href = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = href;
  link.download = attachment.filename;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 30_000);
}
