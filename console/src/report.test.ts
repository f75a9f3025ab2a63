import { describe, expect, it } from 'vitest';
import { funnel } from './report';
import type { Figures } from './api/types';

describe('funnel', () => {
  it('lists the six stages in order with the API rates', () => {
    const f: Figures = {
      planned: 10, attempted: 10, sent: 8, failed: 2, delivered: 6, opened: 3, clicked: 2,
      converted: 1, unsubscribed: 0, cost: '0',
      rates: { send_success: 0.8, delivery: 0.75, open: 0.5, click: 1 / 3, click_to_open: 2 / 3, conversion: 1 / 6 },
    };
    expect(funnel(f).map((s) => [s.stage, s.count, s.rate])).toEqual([
      ['planned', 10, null],
      ['sent', 8, 0.8],
      ['delivered', 6, 0.75],
      ['opened', 3, 0.5],
      ['clicked', 2, 1 / 3],
      ['converted', 1, 1 / 6],
    ]);
  });
});
