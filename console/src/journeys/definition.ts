// The journey editor's text: the definition as JSON (name, entry, start, steps, re_entry, goal),
// its syntax checked in the browser with the line and column of the fault, and the counters of
// `GET /journeys/:id/stats` by step for one version.
import type { Figures, Journey, JourneyBody, JourneyStats } from '../api/types';
import { flowOrder } from './graph';

/** The editable fields of a journey, pretty-printed, its steps in the order of the flow. */
export function definitionText(j: Pick<Journey, 'name' | 'entry' | 'start' | 'steps' | 're_entry' | 'goal'>): string {
  const steps: Record<string, unknown> = j.steps;
  const body = {
    name: j.name,
    entry: j.entry,
    start: j.start,
    steps: Object.fromEntries(flowOrder(steps, j.start).map((id) => [id, steps[id]])),
    re_entry: j.re_entry ?? 'never',
    goal: j.goal ?? null,
  };
  return JSON.stringify(body satisfies JourneyBody | object, null, 2);
}

export interface SyntaxFault {
  message: string;
  line: number;
  column: number;
}

/** Line and column (1-based) of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/**
 * Where `JSON.parse` failed, from its message: V8 says `… at position 42` (and, newer,
 * `(line 3 column 5)`), Firefox `… at line 3 column 5 of the JSON data`; an empty or cut text
 * ends at its last character.
 */
export function faultPosition(text: string, message: string): { line: number; column: number } {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const pos = /position (\d+)/.exec(message);
  if (pos) return lineColumn(text, Number(pos[1]));
  return lineColumn(text, text.length);
}

export type Parsed = { ok: true; body: JourneyBody } | { ok: false; fault: SyntaxFault };

/** The editor's text as a journey body, or where its JSON is wrong. */
export function parseDefinition(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    return { ok: false, fault: { message, ...faultPosition(text, message) } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, fault: { message: 'not a JSON object', line: 1, column: 1 } };
  }
  // The document leaves the definition's objects open: the service checks them (a 400 naming
  // the field), so the body goes as written.
  return { ok: true, body: value as JourneyBody };
}

export interface StepCounts {
  entered: number;
  waiting: number;
  completed: number;
  exited: number;
  converted: number;
  /** A send step's messages (its campaign's figures). */
  messages?: Pick<Figures, 'sent' | 'delivered' | 'opened' | 'clicked' | 'failed'>;
}

/** The message figures of a step's stats (`{campaign_id, figures}`), when it has them. */
function messageFigures(messages: unknown): StepCounts['messages'] {
  if (typeof messages !== 'object' || messages === null) return undefined;
  const f = (messages as { figures?: Partial<Figures> }).figures;
  if (!f) return undefined;
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  return { sent: n(f.sent), delivered: n(f.delivered), opened: n(f.opened), clicked: n(f.clicked), failed: n(f.failed) };
}

/** Each step's counters in `version` (steps nobody reached have no row: absent). */
export function countsByStep(stats: JourneyStats | null, version: number): Map<string, StepCounts> {
  const out = new Map<string, StepCounts>();
  for (const s of stats?.steps ?? []) {
    if (s.version !== version) continue;
    out.set(s.step, {
      entered: s.entered,
      waiting: s.waiting,
      completed: s.completed,
      exited: s.exited,
      converted: s.converted,
      messages: messageFigures(s.messages),
    });
  }
  return out;
}

/** The versions the stats hold counters for, and the current one, newest first. */
export function statsVersions(stats: JourneyStats | null, current: number): number[] {
  const all = new Set([current, ...(stats?.steps ?? []).map((s) => s.version)]);
  return [...all].sort((a, b) => b - a);
}
