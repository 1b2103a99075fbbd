import { Component, h, type FunctionComponent } from 'preact';

/**
 * Skips a re-render caused by the parent when the props are the same; the component
 * still re-renders by itself when a signal it reads changes. (preact/compat's memo,
 * without pulling in compat.)
 */
export function memo<P extends object>(render: FunctionComponent<P>): FunctionComponent<P> {
  class Memo extends Component<P> {
    shouldComponentUpdate(next: P): boolean {
      const prev = this.props as Record<string, unknown>;
      const keys = Object.keys(next);
      if (keys.length !== Object.keys(prev).length) return true;
      return keys.some((key) => !Object.is(prev[key], (next as Record<string, unknown>)[key]));
    }

    render() {
      return h(render, this.props);
    }
  }
  return Memo as unknown as FunctionComponent<P>;
}
