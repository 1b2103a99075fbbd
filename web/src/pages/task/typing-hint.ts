import { useEffect, useRef } from 'preact/hooks';
import type { HeldHint } from '../../sdk/board/hints';
import type { TypingField } from '../../sdk/task/typing';
import type { TaskContext } from './context';

/** How long after the last keystroke the person counts as still typing. */
const IDLE_MS = 4_000;

/**
 * "I am typing here": held from a keystroke until the person pauses, leaves or closes the editor.
 * Returns the function to call on each keystroke, and one to stop at once.
 */
export function useTypingHint(ctx: TaskContext, field: TypingField): { typed(): void; stop(): void } {
  const hint = useRef<HeldHint | null>(null);
  const idle = useRef<ReturnType<typeof setTimeout> | null>(null);
  const stop = () => {
    if (idle.current) clearTimeout(idle.current);
    idle.current = null;
    hint.current?.release();
    hint.current = null;
  };
  useEffect(() => stop, []);
  return {
    typed() {
      if (!hint.current) {
        hint.current = ctx.typing(field);
        hint.current.hold();
      }
      if (idle.current) clearTimeout(idle.current);
      idle.current = setTimeout(stop, IDLE_MS);
    },
    stop,
  };
}
