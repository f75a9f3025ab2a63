import { describe, expect, it } from 'vitest';
import { countsByStep, definitionText, faultPosition, lineColumn, parseDefinition, statsVersions } from './definition';
import type { Journey, JourneyStats } from '../api/types';

describe('parseDefinition', () => {
  it('reads an object', () => {
    expect(parseDefinition('{"name": "x"}')).toEqual({ ok: true, body: { name: 'x' } });
  });
  it('names the line of a syntax error', () => {
    const text = '{\n  "name": "x",\n  "start": "a"\n  "steps": {}\n}';
    const r = parseDefinition(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fault.line).toBe(4);
  });
  it('refuses what is not an object', () => {
    expect(parseDefinition('[1]').ok).toBe(false);
  });
});

describe('faultPosition', () => {
  const text = 'ab\ncd\nef';
  it('reads V8 and Firefox messages', () => {
    expect(faultPosition(text, 'Unexpected token x in JSON at position 4')).toEqual({ line: 2, column: 2 });
    expect(faultPosition(text, "Expected ',' after property value in JSON at position 7 (line 3 column 2)")).toEqual({ line: 3, column: 2 });
    expect(faultPosition(text, 'JSON.parse: expected property name at line 2 column 1 of the JSON data')).toEqual({ line: 2, column: 1 });
    expect(faultPosition(text, 'Unexpected end of JSON input')).toEqual({ line: 3, column: 3 });
  });
  it('counts lines and columns from 1', () => {
    expect(lineColumn('a\nb', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('a\nb', 2)).toEqual({ line: 2, column: 1 });
  });
});

describe('definitionText', () => {
  it('holds the editable fields only', () => {
    // The document leaves entry and steps open (`Record<string, never>` once generated).
    const journey = { name: 'n', entry: { kind: 'manual' }, start: 'a', steps: { b: { type: 'exit' }, a: { type: 'wait', duration_seconds: 1, next: 'b' } }, re_entry: null, goal: null };
    const text = definitionText(journey as unknown as Journey);
    expect(Object.keys(JSON.parse(text))).toEqual(['name', 'entry', 'start', 'steps', 're_entry', 'goal']);
    expect(Object.keys(JSON.parse(text).steps)).toEqual(['a', 'b']);
    expect(JSON.parse(text).re_entry).toBe('never');
  });
});

describe('countsByStep', () => {
  const stats: JourneyStats = {
    journey_id: 'j',
    entered: 3,
    converted: 0,
    exited: 1,
    steps: [
      { version: 1, step: 'a', type: 'send', entered: 3, waiting: 0, completed: 3, exited: 0, converted: 0,
        messages: { campaign_id: 'c', figures: { sent: 3, delivered: 2, opened: 1, clicked: 0, failed: 0 } } },
      { version: 2, step: 'a', type: 'send', entered: 9, waiting: 0, completed: 9, exited: 0, converted: 0 },
      { version: 1, step: 'b', type: 'exit', entered: 3, waiting: 0, completed: 0, exited: 3, converted: 0 },
    ],
  };
  it('takes one version, with a send step\'s messages', () => {
    const c = countsByStep(stats, 1);
    expect(c.get('a')).toEqual({ entered: 3, waiting: 0, completed: 3, exited: 0, converted: 0,
      messages: { sent: 3, delivered: 2, opened: 1, clicked: 0, failed: 0 } });
    expect(c.get('b')?.exited).toBe(3);
    expect(countsByStep(stats, 2).get('a')?.entered).toBe(9);
    expect(countsByStep(null, 1).size).toBe(0);
  });
  it('lists versions newest first, the current one always', () => {
    expect(statsVersions(stats, 3)).toEqual([3, 2, 1]);
    expect(statsVersions(null, 1)).toEqual([1]);
  });
});
