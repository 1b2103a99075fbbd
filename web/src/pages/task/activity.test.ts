import { describe, expect, it } from 'vitest';
import { saidBy } from './activity';

describe('a history line', () => {
  it('says what was done before what it was done to', () => {
    expect(saidBy('subtask_done', 'Write the boot check')).toBe('checked off Write the boot check');
    expect(saidBy('commented', 'Looks fine.')).toBe('commented: Looks fine.');
    expect(saidBy('updated', 'priority High → Urgent')).toBe('changed priority High → Urgent');
  });

  it('keeps a verb it does not know readable, and needs no detail where it has none', () => {
    expect(saidBy('created', 'Review the FAQ')).toBe('created the task');
    expect(saidBy('label_added', 'urgent')).toBe('label added urgent');
    expect(saidBy('attached', null)).toBe('attached');
  });
});
