// A journey definition (the JSON the API stores and the editor holds) as a graph to draw: one
// node per step plus the entry, one edge per `next`/`then`/`else`/`on_event`/`on_timeout`/split
// branch. Tolerant: a draft being edited may name steps that do not exist (a "missing" node) or
// hold steps of an unknown type, and the graph still draws so the error can be shown on it.

export type StepKind = 'send' | 'wait' | 'wait_for_event' | 'branch' | 'split' | 'exit' | 'unknown';

/** A box of the graph: a step, the journey's entry, or a step named but not defined. */
export interface GraphNode {
  id: string;
  kind: StepKind | 'entry' | 'missing';
  /** The step id (for the entry and missing nodes: what is shown). */
  step: string;
  channel?: string;
  /** A wait's duration, a wait_for_event's timeout. */
  seconds?: number;
  /** A wait's `until_local_time`. */
  localTime?: string;
  /** A wait_for_event's or an event entry's event name. */
  event?: string;
  /** A branch rule on an earlier message (`opened` of step `welcome`). */
  engagement?: { what: string; step: string };
  /** A branch rule on a saved segment. */
  segment?: string;
  /** The entry's kind (`event`, `segment`, `manual`). */
  entryKind?: string;
}

export type EdgeLabel =
  | { kind: 'next' }
  | { kind: 'then' }
  | { kind: 'else' }
  | { kind: 'on_event' }
  | { kind: 'on_timeout' }
  | { kind: 'split'; percent: number };

export interface GraphEdge {
  from: string;
  to: string;
  /** The field under `steps.<from>` naming the target, as the API's errors name it. */
  field: string;
  label: EdgeLabel;
}

export interface JourneyGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The entry's node id: `@` is not allowed in a step id, so it never collides with one. */
export const ENTRY = '@entry';
/** The node id of a target that names no step. */
export const missingId = (step: string) => `!${step}`;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

const KINDS: StepKind[] = ['send', 'wait', 'wait_for_event', 'branch', 'split', 'exit'];

/** The targets a step leads to, each with the field naming it. */
function targets(step: Obj): { field: string; to: string; label: EdgeLabel }[] {
  const out: { field: string; to: string; label: EdgeLabel }[] = [];
  const add = (field: string, label: EdgeLabel, to = step[field]) => {
    if (typeof to === 'string') out.push({ field, to, label });
  };
  switch (step.type) {
    case 'send':
    case 'wait':
      add('next', { kind: 'next' });
      break;
    case 'wait_for_event':
      add('on_event', { kind: 'on_event' });
      add('on_timeout', { kind: 'on_timeout' });
      break;
    case 'branch':
      add('then', { kind: 'then' });
      add('else', { kind: 'else' });
      break;
    case 'split': {
      const branches = Array.isArray(step.branches) ? step.branches : [];
      const weights = branches.map((b) => (isObj(b) ? (num(b.weight) ?? 0) : 0));
      const total = weights.reduce((a, b) => a + b, 0);
      branches.forEach((b, i) => {
        if (!isObj(b)) return;
        const percent = total > 0 ? Math.round((weights[i] / total) * 100) : 0;
        add(`branches[${i}].next`, { kind: 'split', percent }, b.next);
      });
      break;
    }
    default:
      // An unknown type: follow whatever targets it names so the draft still draws.
      for (const field of ['next', 'then', 'else', 'on_event', 'on_timeout']) {
        add(field, { kind: 'next' });
      }
  }
  return out;
}

function stepNode(id: string, step: Obj): GraphNode {
  const kind = KINDS.find((k) => k === step.type) ?? 'unknown';
  const node: GraphNode = { id, step: id, kind };
  if (kind === 'send') node.channel = str(step.channel);
  if (kind === 'wait') {
    node.seconds = num(step.duration_seconds);
    node.localTime = str(step.until_local_time);
  }
  if (kind === 'wait_for_event') {
    node.event = str(step.event);
    node.seconds = num(step.timeout_seconds);
  }
  if (kind === 'branch' && isObj(step.rule)) {
    const what = str(step.rule.engagement);
    const of = str(step.rule.step);
    if (what && of) node.engagement = { what, step: of };
    else if (str(step.rule.segment)) node.segment = str(step.rule.segment);
  }
  return node;
}

/** The graph of a definition (`{entry, start, steps, …}`), whatever it holds. */
export function definitionGraph(definition: unknown): JourneyGraph {
  const def = isObj(definition) ? definition : {};
  const steps = isObj(def.steps) ? def.steps : {};
  const entry = isObj(def.entry) ? def.entry : {};
  const nodes: GraphNode[] = [
    {
      id: ENTRY,
      step: '',
      kind: 'entry',
      entryKind: str(entry.kind),
      event: str(entry.event),
      segment: str(entry.segment_id),
    },
  ];
  const edges: GraphEdge[] = [];
  const missing = new Set<string>();
  const link = (from: string, field: string, to: string, label: EdgeLabel) => {
    if (!(to in steps) && !missing.has(to)) missing.add(to);
    edges.push({ from, to: to in steps ? to : missingId(to), field, label });
  };
  const start = str(def.start);
  if (start !== undefined) link(ENTRY, 'start', start, { kind: 'next' });
  for (const [id, raw] of Object.entries(steps)) {
    const step = isObj(raw) ? raw : {};
    nodes.push(stepNode(id, step));
    for (const t of targets(step)) link(id, t.field, t.to, t.label);
  }
  for (const step of missing) nodes.push({ id: missingId(step), step, kind: 'missing' });
  return { nodes, edges };
}

/** The step a field of the API's error names (`steps.wait.next` → `wait`), when it names one. */
export function stepOfField(field: string | null | undefined): string | null {
  if (!field) return null;
  const m = /^steps\.([A-Za-z0-9_-]+)(?=$|[.[])/.exec(field);
  if (m) return m[1];
  // `start` and `entry` are the entry box's (it points at the first step).
  if (field === 'start' || field === 'entry' || field.startsWith('entry.')) return ENTRY;
  return null;
}

/** A duration in its largest whole unit (`86400` → 1 d, `5400` → 90 min, `90` → 90 s). */
export function durationParts(seconds: number): { n: number; unit: 's' | 'min' | 'h' | 'd' } {
  if (seconds > 0 && seconds % 86400 === 0) return { n: seconds / 86400, unit: 'd' };
  if (seconds > 0 && seconds % 3600 === 0) return { n: seconds / 3600, unit: 'h' };
  if (seconds > 0 && seconds % 60 === 0) return { n: seconds / 60, unit: 'min' };
  return { n: seconds, unit: 's' };
}

/** Step ids in the order a customer meets them (depth first from `start`, a step's targets in
 * field order), then any step not reached: how the editor lists them. */
export function flowOrder(steps: Record<string, unknown>, start: string | undefined): string[] {
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id) || !(id in steps)) return;
    seen.add(id);
    const step = steps[id];
    for (const t of targets(isObj(step) ? step : {})) visit(t.to);
  };
  if (start !== undefined) visit(start);
  return [...seen, ...Object.keys(steps).filter((id) => !seen.has(id))];
}
