import { isTransient } from '../errors';
import { newClientId } from '../offline-queue';
import { applyBoardEvents, boardFromSnapshot, type BoardData } from '../reducers/board';
import type { BoardApi, WriteAck } from './api';
import { changedSince, UndoHistory, type HistoryEntry, type Origin } from './history';
import { HintStore } from './hints';
import { conflictForOther, conflictForWriter, refused, undoStale, type BoardNotice } from './notices';
import { project, settled, type PendingOp } from './overlay';
import type { AnyBoardEnvelope, BoardSnapshot, Placement, TaskFields } from './types';
import { BoardView } from './view';

/** A move as the offline queue keeps it: everything needed to send it and reconcile its answer. */
export interface QueuedMove {
  taskId: string;
  toColumn: string;
  placement: Placement;
  baseRev?: number;
  clientId: string;
  title: string;
  from: { column: string; placement: Placement };
  origin: Origin;
}

export interface LiveBoardOptions {
  projectId: string;
  /** The signed-in person's user id. */
  me: string;
  api: BoardApi;
  notify: (notice: BoardNotice) => void;
  nameOf: (userId: string) => string;
  /** Sends moves through the offline queue (in order, kept while offline); default: at once. */
  enqueueMove?: (move: QueuedMove) => Promise<unknown>;
}

/**
 * One board, live: the confirmed state (snapshot + events, through one reducer), the person's
 * pending writes drawn over it, the view the page renders, the others' hints, and undo/redo.
 * Writes show at once, are sent with a client id, and are reconciled by their acknowledgement
 * and their event; a refused write disappears from the overlay and the person is told why.
 */
export class LiveBoard {
  data: BoardData | null = null;
  private ops: PendingOp[] = [];
  readonly view = new BoardView();
  readonly hints: { locks: HintStore; typing: HintStore };
  readonly history = new UndoHistory();
  private readonly mine = new Set<string>();

  constructor(private readonly options: LiveBoardOptions) {
    this.hints = { locks: new HintStore(options.me), typing: new HintStore(options.me) };
  }

  /** Puts a snapshot in place and returns its cursor. Pending writes stay drawn until settled. */
  load(snapshot: BoardSnapshot): number {
    this.data = boardFromSnapshot(snapshot);
    this.hints.locks.load(snapshot.hints?.locks ?? []);
    this.hints.typing.load(snapshot.hints?.typing ?? []);
    this.refresh();
    return Number(snapshot.cursor) || 0;
  }

  applyEvents(envelopes: AnyBoardEnvelope[]): void {
    if (!this.data) return;
    applyBoardEvents(this.data, envelopes);
    for (const envelope of envelopes) this.tellOverwritten(envelope);
    this.refresh();
  }

  /** The card's current title (for messages), confirmed or drawn. */
  title(taskId: string): string {
    return this.view.peekCard(taskId)?.title ?? this.data?.tasks.get(taskId)?.title ?? 'the card';
  }

  /** Where a card sits now: the card after it (or before it, when last) in its column. */
  placementOf(taskId: string): { column: string; placement: Placement } | null {
    const at = this.view.locate(taskId);
    if (!at) return null;
    const ids = this.view.ids(at.column).peek();
    const next = ids[at.index + 1];
    const previous = ids[at.index - 1];
    return { column: at.column, placement: next ? { beforeTaskId: next } : previous ? { afterTaskId: previous } : {} };
  }

  create(column: string, fields: Partial<TaskFields> & { title: string }, placement: Placement = {}, origin: Origin = 'user'): string {
    const clientId = newClientId();
    const now = new Date().toISOString();
    const op: Extract<PendingOp, { kind: 'create' }> = {
      kind: 'create',
      clientId,
      tempId: `tmp_${clientId}`,
      placement: this.usable(column, placement),
      fields: {
        projectId: this.options.projectId,
        title: fields.title,
        description: fields.description ?? '',
        status: column,
        priority: fields.priority ?? 'Medium',
        assigneeId: fields.assigneeId ?? null,
        dueDate: fields.dueDate ?? null,
        createdBy: this.options.me,
        createdAt: now,
        updatedAt: now,
        completedAt: null,
        subtaskCount: { done: 0, total: 0 },
        attachmentCount: 0,
      },
    };
    this.begin(op);
    const { title, description, priority, assigneeId, dueDate } = op.fields;
    this.options.api
      .create(this.options.projectId, { title, description, priority, assigneeId, dueDate, status: column, clientId, ...op.placement })
      .then(
        (ack) => {
          op.ackTaskId = ack.task.id;
          op.ackRev = ack.task.rev;
          this.history.record({ kind: 'created', taskId: ack.task.id, rev: ack.task.rev, title: ack.task.title }, origin);
          this.refresh();
        },
        (err) => this.refuse(op, 'create', fields.title, err),
      );
    return op.tempId;
  }

  /**
   * Changes fields of a card. `baseRev` is the rev the person saw when they started editing
   * (default: the confirmed one now), so a change made meanwhile by someone else is reported.
   */
  edit(taskId: string, changes: Partial<TaskFields>, origin: Origin = 'user', baseRev?: number): void {
    const card = this.view.peekCard(taskId);
    const confirmed = this.data?.tasks.get(taskId);
    if (!card || !confirmed) return;
    const before: Partial<TaskFields> = {};
    const after: Partial<TaskFields> = {};
    for (const key of Object.keys(changes) as Array<keyof TaskFields>) {
      if (Object.is(card[key], changes[key])) continue; // only changed fields travel
      (before as Record<string, unknown>)[key] = card[key];
      (after as Record<string, unknown>)[key] = changes[key];
    }
    if (Object.keys(after).length === 0) return;
    const op: PendingOp = { kind: 'edit', clientId: newClientId(), taskId, changes: after };
    this.begin(op);
    this.options.api.edit(taskId, { changes: after, baseRev: baseRev ?? confirmed.rev, clientId: op.clientId }).then(
      (ack) => {
        op.ackRev = ack.task.rev;
        this.tellWriter(ack);
        this.history.record({ kind: 'edited', taskId, rev: ack.task.rev, title: ack.task.title, before, after }, origin);
        this.refresh();
      },
      (err) => this.refuse(op, 'change', card.title, err),
    );
  }

  /** Moves a card; `baseRev` is the rev when the person picked it up (default: now). */
  move(taskId: string, toColumn: string, placement: Placement, origin: Origin = 'user', baseRev?: number): void {
    const from = this.placementOf(taskId);
    const confirmed = this.data?.tasks.get(taskId);
    if (!from || !confirmed) return;
    const clientId = newClientId();
    const move: QueuedMove = {
      taskId,
      toColumn,
      placement: this.usable(toColumn, placement, taskId),
      baseRev: baseRev ?? confirmed.rev,
      clientId,
      title: this.title(taskId),
      from,
      origin,
    };
    this.begin({ kind: 'move', clientId, taskId, toColumn, placement: move.placement });
    if (this.options.enqueueMove) void this.options.enqueueMove(move);
    else void this.deliverMove(move).catch((err) => this.refuseMove(move, err));
  }

  /**
   * Sends one move and reconciles its answer. A transient failure is thrown (the offline
   * queue keeps the move and tries again); a refusal rolls the move back here.
   */
  async deliverMove(move: QueuedMove): Promise<void> {
    const { taskId, toColumn, placement, baseRev, clientId } = move;
    let ack: WriteAck;
    try {
      ack = await this.options.api.move(taskId, { toColumn, ...placement, baseRev, clientId });
    } catch (err) {
      if (isTransient(err)) throw err;
      return this.refuseMove(move, err);
    }
    const op = this.ops.find((o) => o.clientId === clientId);
    if (op?.kind === 'move') op.ackRev = ack.task.rev;
    this.tellWriter(ack);
    this.history.record({ kind: 'moved', taskId, rev: ack.task.rev, title: ack.task.title, from: move.from, toColumn }, move.origin);
    this.refresh();
  }

  private refuseMove(move: QueuedMove, err: unknown): void {
    const op = this.ops.find((o) => o.clientId === move.clientId);
    if (op) this.refuse(op, 'move', move.title, err);
    else this.options.notify({ kind: 'refused', message: refused('move', move.title, reasonOf(err)) });
  }

  remove(taskId: string, origin: Origin = 'user'): void {
    const card = this.view.peekCard(taskId);
    const where = this.placementOf(taskId);
    if (!card || !where || !this.data?.tasks.has(taskId)) return;
    const { pending: _pending, ...task } = card;
    const op: PendingOp = { kind: 'delete', clientId: newClientId(), taskId };
    this.begin(op);
    this.options.api.remove(taskId).then(
      () => {
        const entry: HistoryEntry = { kind: 'deleted', task, placement: where.placement };
        this.history.record(entry, origin);
        this.refresh();
        if (origin === 'user') {
          this.options.notify({ kind: 'deleted', message: `Deleted “${task.title}”.`, action: { label: 'Undo', run: () => this.undo(entry) } });
        }
      },
      (err) => this.refuse(op, 'delete', card.title, err),
    );
  }

  /** Undoes the person's latest (or the given) write, unless someone else changed it since. */
  undo(entry?: HistoryEntry): void {
    this.replay('undo', entry);
  }

  redo(): void {
    this.replay('redo');
  }

  private replay(stack: 'undo' | 'redo', wanted?: HistoryEntry): void {
    if (!this.data) return;
    const entry = this.history.take(stack, wanted);
    if (!entry) return;
    const origin: Origin = stack;
    const changed = changedSince(this.data, entry, this.options.me);
    if (changed === 'deleted' || changed.length > 0) {
      const title = entry.kind === 'deleted' ? entry.task.title : entry.title;
      this.options.notify({ kind: 'undo-stale', message: undoStale(title, changed, this.options.nameOf) });
      return;
    }
    switch (entry.kind) {
      case 'created':
        return this.remove(entry.taskId, origin);
      case 'edited':
        return this.edit(entry.taskId, entry.before, origin);
      case 'moved':
        return this.move(entry.taskId, entry.from.column, entry.from.placement, origin);
      case 'deleted': {
        const { title, description, priority, assigneeId, dueDate, status } = entry.task;
        this.create(status, { title, description, priority, assigneeId, dueDate }, entry.placement, origin);
        return;
      }
    }
  }

  /** Whether the task is a confirmed one (pending creates cannot be edited or moved yet). */
  editable(taskId: string): boolean {
    return this.data?.tasks.has(taskId) === true;
  }

  /**
   * A neighbour that is not (or no longer) in the column would be refused: use the column's end.
   * Checked against what the person sees, pending writes included: the queue sends them first.
   */
  private usable(column: string, placement: Placement, moving?: string): Placement {
    const ids = this.view.ids(column).peek();
    const neighbour = placement.beforeTaskId ?? placement.afterTaskId;
    if (!neighbour || neighbour === moving || !ids.includes(neighbour) || this.view.peekCard(neighbour)?.rev === 0) return {};
    return placement.beforeTaskId ? { beforeTaskId: neighbour } : { afterTaskId: neighbour };
  }

  private begin(op: PendingOp): void {
    this.mine.add(op.clientId);
    this.ops.push(op);
    this.refresh();
  }

  private refuse(op: PendingOp, verb: string, title: string, err: unknown): void {
    this.ops = this.ops.filter((o) => o !== op);
    this.refresh();
    this.options.notify({ kind: 'refused', message: refused(verb, title, reasonOf(err)) });
  }

  private tellWriter(ack: WriteAck): void {
    if (ack.conflict) this.options.notify({ kind: 'conflict', message: conflictForWriter(ack.task.title, ack.conflict, this.options.nameOf) });
  }

  /** Someone else's write overwrote a field this person had just written: say who and which. */
  private tellOverwritten(envelope: AnyBoardEnvelope): void {
    if (envelope.event !== 'kanban.task.updated' && envelope.event !== 'kanban.task.moved') return;
    const { conflict, clientId, taskId } = envelope.data;
    if (!conflict || (clientId && this.mine.has(clientId))) return;
    const writer = envelope.event === 'kanban.task.updated' ? envelope.data.updatedBy : envelope.data.movedBy;
    if (writer === this.options.me) return;
    const fields = (conflict.with ?? []).filter((w) => w.userId === this.options.me).map((w) => w.field);
    if (fields.length === 0) return;
    const message = conflictForOther(this.data?.tasks.get(taskId)?.title ?? this.title(taskId), this.options.nameOf(writer), fields);
    this.options.notify({ kind: 'conflict', message });
  }

  private refresh(): void {
    if (!this.data) return;
    const data = this.data;
    this.ops = this.ops.filter((op) => !settled(op, data));
    this.view.update(project(data, this.ops), data.columns, data.archived, data.name);
  }

  dispose(): void {
    this.hints.locks.dispose();
    this.hints.typing.dispose();
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof Error && err.message) return err.message;
  return 'the server refused it';
}
