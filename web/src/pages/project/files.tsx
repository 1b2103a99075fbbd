import { Link } from '../../app/router';
import { errorMessage, toast } from '../../app/toasts';
import type { ProjectFile } from '../../sdk/project/types';
import { download, formatSize } from '../../sdk/task/files';
import type { TokenStore } from '../../sdk/tokens';
import { RelativeTime } from '../../ui/time';

/** Every file attached to the project's tasks, newest first: download (with the token), its task, who, size, when. */
export function Files({ files, tokens }: { files: readonly ProjectFile[]; tokens: TokenStore }) {
  return (
    <section class="card project-section" aria-labelledby="project-files-heading" data-testid="project-files">
      <div class="project-section-head">
        <h2 id="project-files-heading">Files</h2>
        <span class="count" data-testid="project-files-count">
          {files.length}
        </span>
      </div>
      {files.length === 0 ? (
        <p class="muted">No files are attached to this project's tasks yet.</p>
      ) : (
        <ul class="project-files">
          {files.map((f) => (
            <li key={f.id} class="project-file" data-testid="project-file" data-file-id={f.id}>
              <button
                type="button"
                class="link-button project-file-name"
                title={`Download ${f.filename}`}
                onClick={() => download(f, tokens).catch((err: unknown) => toast(errorMessage(err)))}
                data-testid="project-file-download"
              >
                {f.filename}
              </button>
              <span class="muted project-file-meta">
                <Link href={`/tasks/${f.taskId}`} testid="project-file-task">
                  {f.taskTitle}
                </Link>{' '}
                · {f.uploaderName ?? 'Someone'} · {formatSize(f.size)} · <RelativeTime iso={f.createdAt} />
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
