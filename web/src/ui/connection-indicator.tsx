import type { ReadonlySignal } from '@preact/signals';
import type { ConnectionState } from '../sdk/connection';

const LABELS: Record<ConnectionState, string> = {
  idle: 'Offline',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  'offline-polling': 'Offline — polling',
};

const HINTS: Record<ConnectionState, string> = {
  idle: 'Not connected.',
  connecting: 'Opening a live connection.',
  live: 'Changes appear the moment they happen.',
  reconnecting: 'The live connection dropped; reconnecting.',
  'offline-polling': 'No live connection; the page keeps itself up to date by polling the server.',
};

export function ConnectionIndicator({ state }: { state: ReadonlySignal<ConnectionState> }) {
  const value = state.value;
  return (
    <span class={`connection connection-${value}`} data-testid="connection-indicator" data-state={value} title={HINTS[value]}>
      <span class="connection-dot" aria-hidden="true" />
      {LABELS[value]}
    </span>
  );
}
