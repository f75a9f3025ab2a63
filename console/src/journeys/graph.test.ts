import { describe, expect, it } from 'vitest';
import { definitionGraph, durationParts, ENTRY, flowOrder, missingId, stepOfField } from './graph';

const welcome = {
  entry: { kind: 'manual' },
  start: 'welcome',
  steps: {
    welcome: { type: 'send', channel: 'email', content: 'hi', next: 'wait' },
    wait: { type: 'wait', duration_seconds: 3, next: 'opened' },
    opened: { type: 'branch', rule: { engagement: 'opened', step: 'welcome' }, then: 'done', else: 'remind' },
    remind: { type: 'send', channel: 'sms', content: 'hi' },
    done: { type: 'exit' },
  },
};

describe('definitionGraph', () => {
  it('has the entry, a node per step and an edge per target, named by its field', () => {
    const g = definitionGraph(welcome);
    expect(g.nodes.map((n) => n.id)).toEqual([ENTRY, 'welcome', 'wait', 'opened', 'remind', 'done']);
    expect(g.edges.map((e) => `${e.from}.${e.field}→${e.to}`)).toEqual([
      `${ENTRY}.start→welcome`,
      'welcome.next→wait',
      'wait.next→opened',
      'opened.then→done',
      'opened.else→remind',
    ]);
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    expect(byId.get('welcome')).toMatchObject({ kind: 'send', channel: 'email' });
    expect(byId.get('wait')).toMatchObject({ kind: 'wait', seconds: 3 });
    expect(byId.get('opened')?.engagement).toEqual({ what: 'opened', step: 'welcome' });
    expect(byId.get(ENTRY)).toMatchObject({ kind: 'entry', entryKind: 'manual' });
  });

  it('labels split branches by their share and wait_for_event outcomes', () => {
    const g = definitionGraph({
      entry: { kind: 'event', event: 'signup' },
      start: 's',
      steps: {
        s: { type: 'split', branches: [{ weight: 1, next: 'a' }, { weight: 3, next: 'w' }] },
        a: { type: 'exit' },
        w: { type: 'wait_for_event', event: 'order_paid', timeout_seconds: 60, on_event: 'a', on_timeout: 'a' },
      },
    });
    expect(g.edges.filter((e) => e.from === 's').map((e) => [e.field, e.label])).toEqual([
      ['branches[0].next', { kind: 'split', percent: 25 }],
      ['branches[1].next', { kind: 'split', percent: 75 }],
    ]);
    expect(g.edges.filter((e) => e.from === 'w').map((e) => e.label.kind)).toEqual(['on_event', 'on_timeout']);
    expect(g.nodes.find((n) => n.id === 'w')).toMatchObject({ event: 'order_paid', seconds: 60 });
  });

  it('draws a target that names no step as a missing node', () => {
    const g = definitionGraph({ ...welcome, steps: { ...welcome.steps, wait: { type: 'wait', duration_seconds: 3, next: 'nowhere' } } });
    expect(g.nodes.find((n) => n.kind === 'missing')).toEqual({ id: missingId('nowhere'), step: 'nowhere', kind: 'missing' });
    expect(g.edges.find((e) => e.from === 'wait')?.to).toBe(missingId('nowhere'));
  });

  it('survives anything', () => {
    expect(definitionGraph(null).nodes.map((n) => n.id)).toEqual([ENTRY]);
    expect(definitionGraph({ steps: { x: 3, y: { type: 'teleport', next: 'x' } } }).edges).toEqual([
      { from: 'y', to: 'x', field: 'next', label: { kind: 'next' } },
    ]);
  });
});

describe('stepOfField', () => {
  it('finds the step an error path names', () => {
    expect(stepOfField('steps.wait.next')).toBe('wait');
    expect(stepOfField('steps.opened.rule.and[1].engagement')).toBe('opened');
    expect(stepOfField('steps.s-1.branches[0].next')).toBe('s-1');
    expect(stepOfField('steps.orphan')).toBe('orphan');
    expect(stepOfField('start')).toBe(ENTRY);
    expect(stepOfField('entry.event')).toBe(ENTRY);
    expect(stepOfField('name')).toBeNull();
    expect(stepOfField('steps')).toBeNull();
    expect(stepOfField(null)).toBeNull();
  });
});

describe('durationParts', () => {
  it('uses the largest whole unit', () => {
    expect(durationParts(86400)).toEqual({ n: 1, unit: 'd' });
    expect(durationParts(7200)).toEqual({ n: 2, unit: 'h' });
    expect(durationParts(5400)).toEqual({ n: 90, unit: 'min' });
    expect(durationParts(3)).toEqual({ n: 3, unit: 's' });
    expect(durationParts(0)).toEqual({ n: 0, unit: 's' });
  });
});

describe('flowOrder', () => {
  it('lists steps as a customer meets them, unreached ones last', () => {
    const steps = { orphan: { type: 'exit' }, ...Object.fromEntries(Object.entries(welcome.steps).reverse()) };
    expect(flowOrder(steps, 'welcome')).toEqual(['welcome', 'wait', 'opened', 'done', 'remind', 'orphan']);
    expect(flowOrder(steps, undefined)).toEqual(Object.keys(steps));
  });
});
