/**
 * Switches for browser tests and for checking soak verification by hand: `dropNext(name)`
 * makes this tab discard the next event of that name after accepting its seq, as a lost
 * update would, so the next verification must find and repair the difference. Nothing
 * is dropped unless asked, and only in the tab that asked.
 */
export class DebugSwitches {
  private readonly drops = new Map<string, number>();

  dropNext(event: string, count = 1): void {
    this.drops.set(event, (this.drops.get(event) ?? 0) + count);
  }

  /** How many drops are still to happen. */
  pending(): number {
    let total = 0;
    for (const count of this.drops.values()) total += count;
    return total;
  }

  /** Consumes one pending drop for `event`: true when this envelope must be discarded. */
  take(event: string): boolean {
    const left = this.drops.get(event) ?? 0;
    if (left <= 0) return false;
    if (left === 1) this.drops.delete(event);
    else this.drops.set(event, left - 1);
    return true;
  }

  /** The envelopes that survive the pending drops. */
  filter<T extends { event: string }>(envelopes: T[]): T[] {
    if (this.drops.size === 0) return envelopes;
    return envelopes.filter((envelope) => !this.take(envelope.event));
  }
}
