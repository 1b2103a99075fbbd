import { describe, expect, it } from 'vitest';
import { mergeInto } from './chart';

describe('mergeInto', () => {
  it('changes values in the arrays the chart already holds', () => {
    const values = [1, 2, 3];
    const labels = ['a', 'b', 'c'];
    const target = { labels, datasets: [{ label: 'Open', data: values as unknown[] }] };
    expect(mergeInto(target, ['a', 'b', 'c'], [{ label: 'Open', values: [1, 5, 3], color: '#000' }])).toBe(true);
    expect(target.datasets[0].data).toBe(values);
    expect(values).toEqual([1, 5, 3]);
    expect(target.labels).toBe(labels);
  });

  it('reports nothing changed for the same labels and values', () => {
    const target = { labels: ['a'], datasets: [{ label: 'Open', data: [4] as unknown[] }] };
    expect(mergeInto(target, ['a'], [{ label: 'Open', values: [4], color: '#000' }])).toBe(false);
  });

  it('follows labels and series that grow, shrink or change', () => {
    const target = { labels: ['a', 'b'], datasets: [{ label: 'x', data: [1, 2] as unknown[] }, { label: 'y', data: [3, 4] as unknown[] }] };
    expect(mergeInto(target, ['b', 'c', 'd'], [{ label: 'z', values: [7, 8, 9], color: '#000' }])).toBe(true);
    expect(target.labels).toEqual(['b', 'c', 'd']);
    expect(target.datasets).toHaveLength(1);
    expect(target.datasets[0]).toMatchObject({ label: 'z', data: [7, 8, 9] });
  });
});
