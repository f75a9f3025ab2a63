import { describe, expect, it } from 'vitest';
import { backEdges, crossings, edgePath, layout, longestPathLayers, type LayoutNode } from './layout';

const box = (id: string): LayoutNode => ({ id, width: 100, height: 50 });
const overlap = (a: { x: number; y: number; width: number; height: number }, b: typeof a) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('layering', () => {
  it('puts each node one below its lowest predecessor', () => {
    const layers = longestPathLayers(['a', 'b', 'c', 'd'], [
      { from: 'a', to: 'b' },
      { from: 'b', to: 'c' },
      { from: 'a', to: 'c' },
      { from: 'c', to: 'd' },
    ]);
    expect([...layers]).toEqual([['a', 0], ['b', 1], ['c', 2], ['d', 3]]);
  });
  it('finds the edges closing cycles', () => {
    const edges = [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }, { from: 'c', to: 'c' }];
    expect([...backEdges(['a', 'b', 'c'], edges)]).toEqual([2, 3]);
  });
  it('counts crossings', () => {
    expect(crossings([[0, 1], [1, 0]])).toBe(1);
    expect(crossings([[0, 0], [1, 1], [0, 1]])).toBe(0);
  });
});

describe('layout', () => {
  const nodes = ['entry', 'send', 'wait', 'branch', 'sms', 'exit'].map(box);
  const edges = [
    { from: 'entry', to: 'send' },
    { from: 'send', to: 'wait' },
    { from: 'wait', to: 'branch' },
    { from: 'branch', to: 'exit' },
    { from: 'branch', to: 'sms' },
  ];
  it('lays a flow top to bottom without overlaps, a branch side by side', () => {
    const l = layout(nodes, edges);
    const at = (id: string) => l.nodes.get(id)!;
    expect(['entry', 'send', 'wait', 'branch'].map((n) => at(n).layer)).toEqual([0, 1, 2, 3]);
    expect(at('sms').layer).toBe(4);
    expect(at('exit').layer).toBe(4);
    expect(at('send').y).toBeGreaterThan(at('entry').y);
    // Then (exit) left of else (sms), as the definition lists them; the branch centred above.
    expect(at('exit').x).toBeLessThan(at('sms').x);
    const mid = (id: string) => at(id).x + at(id).width / 2;
    expect(Math.abs(mid('branch') - (mid('exit') + mid('sms')) / 2)).toBeLessThan(1);
    const all = [...l.nodes.values()];
    for (const a of all) for (const b of all) if (a !== b) expect(overlap(a, b)).toBe(false);
    for (const n of all) {
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width).toBeLessThanOrEqual(l.width);
      expect(n.y + n.height).toBeLessThanOrEqual(l.height);
    }
  });
  it('routes edges from the bottom of the source to the top of the target, through layers', () => {
    const l = layout(['a', 'b', 'c'].map(box), [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'a', to: 'c' }]);
    const long = l.edges[2];
    expect(long.points[0].y).toBe(l.nodes.get('a')!.y + 50);
    expect(long.points[long.points.length - 1].y).toBe(l.nodes.get('c')!.y);
    expect(long.points.length).toBe(4); // through the dummy in b's layer
    // The dummy passes beside b, not through it.
    const b = l.nodes.get('b')!;
    expect(long.points[1].x < b.x || long.points[1].x > b.x + b.width).toBe(true);
  });
  it('draws a cycle back up and a loop on the node', () => {
    const l = layout(['a', 'w', 'c'].map(box), [{ from: 'a', to: 'w' }, { from: 'w', to: 'c' }, { from: 'c', to: 'w' }, { from: 'w', to: 'w' }]);
    expect(l.nodes.get('c')!.layer).toBe(2);
    const up = l.edges[2];
    expect(up.back).toBe(true);
    expect(up.from).toBe('c');
    expect(up.points[0].y).toBe(l.nodes.get('c')!.y);
    expect(up.points[up.points.length - 1].y).toBe(l.nodes.get('w')!.y + 50);
    expect(l.edges[3].self).toBe(true);
  });
  it('keeps a crossing-free order when there is one', () => {
    // a → c, b → d listed crosswise: the sweeps uncross them.
    const l = layout(['a', 'b', 'd', 'c'].map(box), [{ from: 'a', to: 'c' }, { from: 'b', to: 'd' }]);
    const x = (id: string) => l.nodes.get(id)!.x;
    expect(Math.sign(x('a') - x('b'))).toBe(Math.sign(x('c') - x('d')));
  });
});

describe('edgePath', () => {
  it('draws straight verticals and curved legs', () => {
    expect(edgePath([{ x: 0, y: 0 }, { x: 0, y: 10 }])).toBe('M0,0 L0,10');
    expect(edgePath([{ x: 0, y: 0 }, { x: 10, y: 20 }])).toBe('M0,0 C0,10 10,10 10,20');
    expect(edgePath([])).toBe('');
  });
});
