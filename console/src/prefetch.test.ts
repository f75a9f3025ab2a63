import { describe, expect, it } from 'vitest';
import { prefetch, take } from './prefetch';

describe('prefetch', () => {
  it('hands the request in flight to the first taker only', async () => {
    let calls = 0;
    const load = () => Promise.resolve(++calls);
    prefetch('a', load);
    prefetch('a', load); // already waiting: not started twice
    expect(calls).toBe(1);
    expect(await take('a', load)).toBe(1);
    expect(await take('a', load)).toBe(2); // a later taker asks afresh
  });
  it('passes a failure to the taker', async () => {
    prefetch('b', () => Promise.reject(new Error('down')));
    await expect(take('b', () => Promise.resolve('fresh'))).rejects.toThrow('down');
    expect(await take('b', () => Promise.resolve('fresh'))).toBe('fresh');
  });
});
