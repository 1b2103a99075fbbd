import { useSignal } from '@preact/signals';
import { useEffect, useMemo } from 'preact/hooks';
import { toast } from '../../app/toasts';
import { download, fetchBlob, formatSize, Uploads, type Upload } from '../../sdk/task/files';
import type { TaskView } from '../../sdk/task/live';
import type { Attachment } from '../../sdk/task/types';
import { RelativeTime } from '../../ui/time';
import type { TaskContext } from './context';

/** The task's files: upload by button or drop (a progress bar each, Retry on failure), thumbnails, download, delete. */
export function Attachments({ view, ctx }: { view: TaskView; ctx: TaskContext }) {
  const uploads = useMemo(() => new Uploads(ctx.taskId, ctx.tokens, (a) => ctx.live.attached(a)), [ctx.taskId, ctx.tokens, ctx.live]);
  useEffect(() => () => uploads.dispose(), [uploads]);
  const over = useSignal(false);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    over.value = false;
    if (ctx.canEdit && e.dataTransfer?.files.length) uploads.add(e.dataTransfer.files);
  };
  return (
    <section
      class={over.value ? 'card task-section attachments attachments-over' : 'card task-section attachments'}
      data-testid="task-attachments"
      onDragOver={(e) => {
        if (!ctx.canEdit) return;
        e.preventDefault();
        over.value = true;
      }}
      onDragLeave={() => (over.value = false)}
      onDrop={onDrop}
    >
      <div class="task-section-head">
        <h2>Files</h2>
        {ctx.canEdit && (
          <label class="button button-small attachment-pick">
            Upload
            <input
              type="file"
              multiple
              class="visually-hidden"
              onChange={(e) => {
                const input = e.currentTarget;
                if (input.files?.length) uploads.add(input.files);
                input.value = '';
              }}
              data-testid="attachment-input"
            />
          </label>
        )}
      </div>
      {ctx.canEdit && <p class="muted attachment-drop">Drop files here to attach them.</p>}
      <ul class="upload-list">
        {uploads.list.value.map((u) => (
          <UploadRow key={u.id} upload={u} uploads={uploads} />
        ))}
      </ul>
      {view.attachments.length === 0 && <p class="muted">No files.</p>}
      <ul class="attachment-list">
        {view.attachments.map((a) => (
          <AttachmentRow key={a.id} attachment={a} ctx={ctx} />
        ))}
      </ul>
    </section>
  );
}

function UploadRow({ upload, uploads }: { upload: Upload; uploads: Uploads }) {
  const state = upload.state.value;
  const percent = Math.round(upload.progress.value * 100);
  return (
    <li class={`upload upload-${state}`} data-testid="upload" data-state={state}>
      <span class="attachment-name">{upload.file.name}</span>
      {state === 'failed' ? (
        <>
          <span class="upload-error" role="alert" data-testid="upload-error">
            {upload.error.value}
          </span>
          <button type="button" class="button button-small" onClick={() => uploads.retry(upload.id)} data-testid="upload-retry">
            Retry
          </button>
          <button type="button" class="button button-ghost button-small" onClick={() => uploads.dismiss(upload.id)} data-testid="upload-dismiss">
            Dismiss
          </button>
        </>
      ) : (
        <div class="progress" role="progressbar" aria-label={`Uploading ${upload.file.name}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} data-testid="upload-progress">
          <div class="progress-bar" style={{ width: `${percent}%` }} />
        </div>
      )}
    </li>
  );
}

function Thumbnail({ attachment, ctx }: { attachment: Attachment; ctx: TaskContext }) {
  const src = useSignal<string | null>(null);
  useEffect(() => {
    if (!attachment.thumbnailUrl) return;
    const abort = new AbortController();
    let url: string | null = null;
    fetchBlob(attachment.thumbnailUrl, ctx.tokens, abort.signal).then(
      (blob) => {
        url = URL.createObjectURL(blob);
        src.value = url;
      },
      () => undefined, // no thumbnail: the file's name is shown all the same
    );
    return () => {
      abort.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [attachment.thumbnailUrl, ctx.tokens, src]);
  if (!src.value) return <span class="attachment-icon" aria-hidden="true">📄</span>;
  return <img class="attachment-thumb" src={src.value} alt="" data-testid="attachment-thumb" />;
}

function AttachmentRow({ attachment, ctx }: { attachment: Attachment; ctx: TaskContext }) {
  const uploader = ctx.person(attachment.uploadedBy);
  const canDelete = ctx.canEdit && (attachment.uploadedBy === ctx.me || ctx.isAdmin || ctx.isLead);
  return (
    <li class="attachment" data-testid="attachment" data-attachment-id={attachment.id}>
      <Thumbnail attachment={attachment} ctx={ctx} />
      <div class="attachment-body">
        <button
          type="button"
          class="link-button attachment-name"
          title={`Download ${attachment.filename}`}
          onClick={() => download(attachment, ctx.tokens).catch((err: Error) => toast(err.message))}
          data-testid="attachment-download"
        >
          {attachment.filename}
        </button>
        <span class="muted">
          {formatSize(attachment.size)} · {uploader?.name ?? 'Someone'} · <RelativeTime iso={attachment.createdAt} />
        </span>
      </div>
      {canDelete && (
        <button type="button" class="icon-button" aria-label={`Delete ${attachment.filename}`} onClick={() => ctx.live.send('delete a file of', (api) => api.removeAttachment(attachment.id))} data-testid="attachment-delete">
          ×
        </button>
      )}
    </li>
  );
}
