import { describe, expect, it } from 'vitest';
import { back, current, FIRST_PAGE, forward, pageNumber } from './records';

describe('cursor trail', () => {
  it('goes forward and back', () => {
    const two = forward(FIRST_PAGE, 'c1');
    const three = forward(two, 'c2');
    expect(current(FIRST_PAGE)).toBe('');
    expect(current(three)).toBe('c2');
    expect(pageNumber(three)).toBe(3);
    expect(back(three)).toEqual(two);
    expect(current(back(two))).toBe('');
    expect(back(FIRST_PAGE)).toEqual(FIRST_PAGE);
  });
});
