import { signal } from '@preact/signals';
import { newClientId } from '../offline-queue';
import { conflictForWriter, refused, type BoardNotice } from '../board/notices';
import type { TaskFields } from '../board/types';
import { applyTaskEvents, taskFromSnapshot, type TaskData } from '../reducers/task';
import type { TaskApi, TaskWriteAck } from './api';
import { TaskTyping } from './typing';
import type { Activity, AnyTaskEnvelope, Attachment, Comment, Subtask, TaskCard, TaskSnapshot } from './types';

type Pending = { pending?: boolean };

/** What the task page renders: the confirmed state with this person's pending writes drawn over it. */
export interface TaskView {
  task: TaskCard & Pending;
  subtasks: Array<Subtask & Pending>;
  comments: Array<Comment & Pending>;
  attachments: Attachment[];
  activity: Activity[];
  gone: boolean;
}

type Op =
  | { kind: 'edit'; clientId: string; changes: Partial<TaskCard>; ackRev?: number }
  | { kind: 'comment'; clientId: string; text: string; at: string; ackId?: string }
  | { kind: 'subtask'; clientId: string; title: string; afterId?: string; ackId?: string }
  | { kind: 'check'; clientId: string; subtaskId: string; done: boolean; ackAt?: string };

/** How a description save ended: applied, merged with someone else's edit, or left for the person to combine. */
export type DescriptionOutcome = { kind: 'saved' } | { kind: 'merged' } | { kind: 'conflict'; theirs: string; mine: string } | { kind: 'failed' };

export interface LiveTaskOptions {
  taskId: string;
  me: string;
  api: TaskApi;
  notify: (notice: BoardNotice) => void;
  nameOf: (userId: string) => string;
}

function settled(op: Op, data: TaskData): boolean {
  if (data.gone || data.seenClientIds.has(op.clientId)) return true;
  switch (op.kind) {
    case 'edit':
      return op.ackRev !== undefined && data.task.rev >= op.ackRev;
    case 'comment':
      return op.ackId !== undefined && data.comments.some((c) => c.id === op.ackId);
    case 'subtask':
      return op.ackId !== undefined && data.subtasks.some((s) => s.id === op.ackId);
    case 'check': {
      if (op.ackAt === undefined) return false;
      const confirmed = data.subtasks.find((s) => s.id === op.subtaskId);
      return !confirmed || confirmed.updatedAt >= op.ackAt;
    }
  }
}

/** The confirmed task with the pending ops drawn over it, in the order they were made. */
function project(data: TaskData, ops: readonly Op[], me: string): TaskView {
  let task: TaskView['task'] = data.task;
  const subtasks: TaskView['subtasks'] = [...data.subtasks];
  const comments: TaskView['comments'] = [...data.comments];
  for (const op of ops) {
    switch (op.kind) {
      case 'edit':
        task = { ...task, ...op.changes, pending: true };
        break;
      case 'comment':
        if (!comments.some((c) => c.id === op.ackId)) {
          comments.push({ id: op.ackId ?? `tmp_${op.clientId}`, taskId: data.task.id, authorId: me, text: op.text, createdAt: op.at, editedAt: null, pending: true });
        }
        break;
      case 'subtask': {
        if (subtasks.some((s) => s.id === op.ackId)) break;
        const after = op.afterId ? subtasks.findIndex((s) => s.id === op.afterId) : subtasks.length - 1;
        const now = new Date().toISOString();
        const row = { id: op.ackId ?? `tmp_${op.clientId}`, taskId: data.task.id, title: op.title, done: false, rank: '', createdBy: me, createdAt: now, updatedAt: now, pending: true };
        subtasks.splice(after + 1, 0, row);
        break;
      }
      case 'check': {
        const at = subtasks.findIndex((s) => s.id === op.subtaskId);
        if (at >= 0) subtasks[at] = { ...subtasks[at], done: op.done, pending: true };
        break;
      }
    }
  }
  return { task, subtasks, comments, attachments: data.attachments, activity: data.activity, gone: data.gone };
}

/**
 * One task, live: the confirmed state (snapshot + the task's and its project's events, through
 * one reducer), this person's pending comment, subtask and field writes drawn over it, and the
 * others' typing hints. Writes show at once, carry a client id, and are reconciled by their
 * acknowledgement and their event; a refused one disappears and the person is told why.
 */
export class LiveTask {
  data: TaskData | null = null;
  private ops: Op[] = [];
  readonly view = signal<TaskView | null>(null);
  readonly typing: TaskTyping;

  constructor(private readonly options: LiveTaskOptions) {
    this.typing = new TaskTyping(options.me);
  }

  load(snapshot: TaskSnapshot): number {
    const columns = this.data?.columns ?? null;
    const projectStatus = this.data?.projectStatus ?? null;
    this.data = { ...taskFromSnapshot(snapshot), columns, projectStatus };
    this.typing.load(snapshot.hints?.typing ?? []);
    this.refresh();
    return Number(snapshot.cursor) || 0;
  }

  applyEvents(envelopes: AnyTaskEnvelope[]): void {
    if (!this.data) return;
    applyTaskEvents(this.data, envelopes);
    if (this.data.gone) this.typing.clear();
    this.refresh();
  }

  /** This person's upload finished: the file shows at once (its event, when in, changes nothing). */
  attached(attachment: Attachment): void {
    this.applyEvents([{ event: 'task.attachment.added', data: { taskId: attachment.taskId, attachment } }]);
  }

  /** The task became invisible to this person (deleted, or access lost): the page says so. */
  markGone(): void {
    if (!this.data) return;
    this.data.gone = true;
    this.typing.clear();
    this.refresh();
  }

  private get title(): string {
    return this.view.peek()?.task.title ?? 'the task';
  }

  /** Changes fields; `baseRev` is the rev the person saw when they began editing (default: now). */
  edit(changes: Partial<TaskFields>, baseRev?: number): void {
    const current = this.view.peek()?.task;
    if (!current || !this.data) return;
    const after: Partial<TaskFields> = {};
    for (const key of Object.keys(changes) as Array<keyof TaskFields>) {
      if (!Object.is(current[key], changes[key])) (after as Record<string, unknown>)[key] = changes[key];
    }
    if (Object.keys(after).length === 0) return;
    const op: Op = { kind: 'edit', clientId: newClientId(), changes: after };
    this.begin(op);
    this.options.api.edit(this.options.taskId, { changes: after, baseRev: baseRev ?? this.data.task.rev, clientId: op.clientId }).then(
      (ack) => this.acked(op, ack),
      (err) => this.refuse(op, 'change', err),
    );
  }

  /** Moves the task to another of the project's columns (at its end). */
  setStatus(toColumn: string, baseRev?: number): void {
    if (!this.data || this.view.peek()?.task.status === toColumn) return;
    const op: Op = { kind: 'edit', clientId: newClientId(), changes: { status: toColumn } };
    this.begin(op);
    this.options.api.move(this.options.taskId, { toColumn, baseRev: baseRev ?? this.data.task.rev, clientId: op.clientId }).then(
      (ack) => this.acked(op, ack),
      (err) => this.refuse(op, 'move', err),
    );
  }

  /**
   * Saves the description with the text the editor started from, so the server can merge a
   * change made meanwhile. When it cannot, the stored text stays and both versions come back.
   */
  async saveDescription(text: string, base: string, baseRev?: number): Promise<DescriptionOutcome> {
    if (!this.data) return { kind: 'failed' };
    const op: Op = { kind: 'edit', clientId: newClientId(), changes: { description: text } };
    this.begin(op);
    let ack: TaskWriteAck;
    try {
      ack = await this.options.api.edit(this.options.taskId, {
        changes: { description: text },
        descriptionBase: base,
        baseRev: baseRev ?? this.data.task.rev,
        clientId: op.clientId,
      });
    } catch (err) {
      this.refuse(op, 'save the description of', err);
      return { kind: 'failed' };
    }
    const conflict = ack.conflict;
    const aboutDescription = !!conflict && conflict.fields.includes('description') && conflict.merged !== undefined;
    this.acked(op, aboutDescription ? { task: ack.task } : ack);
    if (!conflict || !aboutDescription) return { kind: 'saved' };
    if (conflict.merged) return { kind: 'merged' };
    return { kind: 'conflict', theirs: conflict.theirs ?? ack.task.description, mine: conflict.mine ?? text };
  }

  addComment(text: string): void {
    const op: Extract<Op, { kind: 'comment' }> = { kind: 'comment', clientId: newClientId(), text, at: new Date().toISOString() };
    this.begin(op);
    this.options.api.addComment(this.options.taskId, { text, clientId: op.clientId }).then(
      (ack) => {
        op.ackId = ack.comment.id;
        this.refresh();
      },
      (err) => this.refuse(op, 'post a comment on', err),
    );
  }

  addSubtask(title: string, afterId?: string): void {
    const op: Extract<Op, { kind: 'subtask' }> = { kind: 'subtask', clientId: newClientId(), title, afterId };
    this.begin(op);
    this.options.api.addSubtask(this.options.taskId, { title, clientId: op.clientId, ...(afterId ? { afterSubtaskId: afterId } : {}) }).then(
      (ack) => {
        op.ackId = ack.subtask.id;
        this.refresh();
      },
      (err) => this.refuse(op, 'add a subtask to', err),
    );
  }

  check(subtaskId: string, done: boolean): void {
    const op: Extract<Op, { kind: 'check' }> = { kind: 'check', clientId: newClientId(), subtaskId, done };
    this.begin(op);
    this.options.api.updateSubtask(subtaskId, { done }).then(
      (ack) => {
        op.ackAt = ack.subtask.updatedAt;
        this.refresh();
      },
      (err) => this.refuse(op, 'update a subtask of', err),
    );
  }

  /** Writes the event reconciles without an overlay (renames, reorders, deletes): only a refusal is told. */
  send(verb: string, write: (api: TaskApi) => Promise<unknown>): void {
    write(this.options.api).catch((err) => this.options.notify({ kind: 'refused', message: refused(verb, this.title, reasonOf(err)) }));
  }

  private acked(op: Op, ack: TaskWriteAck): void {
    if (op.kind === 'edit') op.ackRev = ack.task.rev;
    if (ack.conflict) this.options.notify({ kind: 'conflict', message: conflictForWriter(ack.task.title, ack.conflict, this.options.nameOf) });
    this.refresh();
  }

  private begin(op: Op): void {
    this.ops.push(op);
    this.refresh();
  }

  private refuse(op: Op, verb: string, err: unknown): void {
    this.ops = this.ops.filter((o) => o !== op);
    this.refresh();
    this.options.notify({ kind: 'refused', message: refused(verb, this.title, reasonOf(err)) });
  }

  private refresh(): void {
    const data = this.data;
    if (!data) return;
    this.ops = this.ops.filter((op) => !settled(op, data));
    this.view.value = project(data, this.ops, this.options.me);
  }

  dispose(): void {
    this.typing.dispose();
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof Error && err.message) return err.message;
  return 'the server refused it';
}
