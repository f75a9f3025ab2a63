// The segment rule builder's model: a tree the page edits (groups AND/OR, NOT, conditions) and
// its two-way mapping to the API's rule JSON (docs/content.md "Segments"), client-side checks
// that name the same field paths as the API (`rule.and[1].value`), and the way back from such a
// path to the node it is about. A JSON node the builder has no form for (a mixed-type `in` list,
// a journey-only test) stays a `raw` node holding its JSON, so every rule round-trips.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type CmpOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
export const CMP_OPS: CmpOp[] = ['=', '!=', '<', '<=', '>', '>='];
export type AttrOp = CmpOp | 'in' | 'contains' | 'exists';
export const ATTR_OPS: AttrOp[] = [...CMP_OPS, 'in', 'contains', 'exists'];
export type ValueType = 'string' | 'number' | 'boolean';
export type TagMode = 'tag' | 'tags_any' | 'tags_all';
export type FieldName = 'created_at' | 'locale' | 'birthday_month' | 'birthday';
export const FIELD_OPS: Record<FieldName, string[]> = {
  created_at: CMP_OPS,
  locale: ['=', '!=', 'in', 'prefix'],
  birthday_month: [...CMP_OPS, 'in'],
  birthday: ['is_today'],
};
export type EngagementKind = 'received' | 'opened' | 'clicked';
export const MAX_WITHIN_DAYS = 3650;
export const MAX_EVENT_COUNT = 1_000_000;

interface Base {
  id: string;
}
export interface GroupNode extends Base {
  kind: 'group';
  op: 'and' | 'or';
  children: RuleNode[];
}
export interface NotNode extends Base {
  kind: 'not';
  child: RuleNode;
}
export interface TagNode extends Base {
  kind: 'tag';
  mode: TagMode;
  /** Comma-separated tags as typed. */
  tags: string;
}
export interface AttributeNode extends Base {
  kind: 'attribute';
  path: string;
  op: AttrOp;
  type: ValueType;
  /** The value as typed; for `in`, comma-separated values of `type`. */
  value: string;
}
export interface FieldNode extends Base {
  kind: 'field';
  field: FieldName;
  op: string;
  /** As typed: an RFC 3339 time, a locale (comma-separated for `in`), a month 1–12. */
  value: string;
}
export interface EngagementNode extends Base {
  kind: 'engagement';
  engagement: EngagementKind;
  campaignId: string;
  withinDays: string;
}
export interface EventNode extends Base {
  kind: 'event';
  name: string;
  /** `''`: no count (at least once). */
  countOp: CmpOp | '';
  countValue: string;
  /** `''`: any time. */
  withinDays: string;
  /** The `where` property rule as JSON text; `''`: none. */
  where: string;
}
export interface RawNode extends Base {
  kind: 'raw';
  json: string;
}
export type Condition = TagNode | AttributeNode | FieldNode | EngagementNode | EventNode | RawNode;
export type RuleNode = GroupNode | NotNode | Condition;
export type ConditionKind = Condition['kind'];

let nextId = 0;
export const newId = (): string => `n${++nextId}`;

/** A fresh condition of `kind` with sensible first values. */
export function newCondition<K extends Exclude<ConditionKind, 'raw'>>(kind: K): Extract<Condition, { kind: K }> {
  return freshCondition(kind) as Extract<Condition, { kind: K }>;
}

function freshCondition(kind: Exclude<ConditionKind, 'raw'>): Condition {
  const id = newId();
  switch (kind) {
    case 'tag':
      return { id, kind, mode: 'tag', tags: '' };
    case 'attribute':
      return { id, kind, path: '', op: '=', type: 'string', value: '' };
    case 'field':
      return { id, kind, field: 'birthday_month', op: '=', value: '' };
    case 'engagement':
      return { id, kind, engagement: 'opened', campaignId: '', withinDays: '30' };
    case 'event':
      return { id, kind, name: '', countOp: '', countValue: '', withinDays: '', where: '' };
  }
}

export const newGroup = (op: 'and' | 'or', children: RuleNode[] = []): GroupNode => ({
  id: newId(),
  kind: 'group',
  op,
  children,
});

// ---------------------------------------------------------------- tree → JSON

const splitList = (text: string): string[] =>
  text
    .split(/[,，]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');

function typed(text: string, type: ValueType): Json {
  if (type === 'number') return text.trim() === '' ? text : Number(text.trim());
  if (type === 'boolean') return text.trim() === 'true';
  return text;
}

const intOr = (text: string): Json => (/^\s*\d+\s*$/.test(text) ? Number(text) : text);

/** The API rule JSON of a tree (what `POST /segments/count` and a segment's `rule` take). */
export function toJson(node: RuleNode): Json {
  switch (node.kind) {
    case 'group':
      return { [node.op]: node.children.map(toJson) };
    case 'not':
      return { not: toJson(node.child) };
    case 'tag':
      return node.mode === 'tag' ? { tag: node.tags.trim() } : { [node.mode]: splitList(node.tags) };
    case 'attribute': {
      const out: JsonObject = { attribute: node.path.trim(), op: node.op };
      if (node.op === 'in') out.value = splitList(node.value).map((v) => typed(v, node.type));
      else if (node.op !== 'exists') out.value = typed(node.value, node.type);
      return out;
    }
    case 'field': {
      const out: JsonObject = { field: node.field, op: node.op };
      if (node.field === 'birthday') return out;
      if (node.field === 'birthday_month')
        out.value = node.op === 'in' ? splitList(node.value).map(intOr) : intOr(node.value);
      else if (node.field === 'locale' && node.op === 'in') out.value = splitList(node.value);
      else out.value = node.value.trim();
      return out;
    }
    case 'engagement':
      return {
        engagement: node.engagement,
        campaign_id: node.campaignId.trim(),
        within_days: intOr(node.withinDays),
      };
    case 'event': {
      const out: JsonObject = { event: node.name };
      if (node.where.trim() !== '') out.where = parseJsonOr(node.where);
      if (node.countOp !== '') out.count = { op: node.countOp, value: intOr(node.countValue) };
      if (node.withinDays.trim() !== '') out.within_days = intOr(node.withinDays);
      return out;
    }
    case 'raw':
      return parseJsonOr(node.json);
  }
}

function parseJsonOr(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------- JSON → tree

const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const keysAre = (o: JsonObject, allowed: string[]) => Object.keys(o).every((k) => allowed.includes(k));
const raw = (v: Json): RawNode => ({ id: newId(), kind: 'raw', json: JSON.stringify(v) });

function scalarType(v: Json): ValueType | null {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'boolean';
  return null;
}

/** A list the builder can show as comma-separated text and rebuild exactly. */
function listText(vs: Json[], type: ValueType): string | null {
  if (vs.length === 0 || vs.some((v) => scalarType(v) !== type)) return null;
  const texts = vs.map(String);
  if (texts.some((s) => /[,，]/.test(s) || s.trim() !== s || s === '')) return null;
  return texts.join(', ');
}

/**
 * The tree of a rule JSON. Anything the forms cannot rebuild exactly becomes a `raw` node, so
 * `toJson(fromJson(x))` equals `x` for every JSON value.
 */
export function fromJson(v: Json): RuleNode {
  if (!isObject(v)) return raw(v);
  const o = v;
  const id = newId();
  const only = (k: string) => keysAre(o, [k]);
  if (only('and') || only('or')) {
    const op = 'and' in o ? 'and' : 'or';
    const items = o[op];
    if (!Array.isArray(items)) return raw(v);
    return { id, kind: 'group', op, children: items.map(fromJson) };
  }
  if (only('not')) return { id, kind: 'not', child: fromJson(o.not) };
  if (only('tag') && typeof o.tag === 'string' && o.tag.trim() === o.tag)
    return { id, kind: 'tag', mode: 'tag', tags: o.tag };
  for (const mode of ['tags_any', 'tags_all'] as const) {
    if (only(mode) && Array.isArray(o[mode])) {
      const text = listText(o[mode] as Json[], 'string');
      if (text !== null) return { id, kind: 'tag', mode, tags: text };
    }
  }
  if ('attribute' in o && keysAre(o, ['attribute', 'op', 'value']) && typeof o.attribute === 'string') {
    const path = o.attribute;
    const op = o.op as AttrOp;
    if (path.trim() === path && ATTR_OPS.includes(op)) {
      if (op === 'exists' && !('value' in o)) return { id, kind: 'attribute', path, op, type: 'string', value: '' };
      if (op === 'in' && Array.isArray(o.value) && o.value.length > 0) {
        const type = scalarType(o.value[0]);
        const text = type && listText(o.value, type);
        if (type && text !== null) return { id, kind: 'attribute', path, op, type, value: text };
      }
      // String(x) read back by `typed` gives x again for every string, number and boolean.
      const type = scalarType(o.value ?? null);
      if (op !== 'in' && op !== 'exists' && type)
        return { id, kind: 'attribute', path, op, type, value: String(o.value) };
    }
  }
  if ('field' in o && keysAre(o, ['field', 'op', 'value']) && typeof o.field === 'string') {
    const field = o.field as FieldName;
    const op = o.op;
    if (field in FIELD_OPS && typeof op === 'string' && FIELD_OPS[field].includes(op)) {
      const node = (value: string): FieldNode => ({ id, kind: 'field', field, op, value });
      if (field === 'birthday' && !('value' in o)) return node('');
      if (field === 'birthday_month') {
        if (op === 'in' && Array.isArray(o.value)) {
          const text = listText(o.value, 'number');
          if (text !== null && o.value.every((m) => Number.isInteger(m))) return node(text);
        } else if (op !== 'in' && Number.isInteger(o.value)) return node(String(o.value));
      }
      if (field === 'locale') {
        if (op === 'in' && Array.isArray(o.value)) {
          const text = listText(o.value, 'string');
          if (text !== null) return node(text);
        } else if (op !== 'in' && typeof o.value === 'string' && o.value.trim() === o.value) return node(o.value);
      }
      if (field === 'created_at' && typeof o.value === 'string' && o.value.trim() === o.value) return node(o.value);
    }
  }
  if (
    'engagement' in o &&
    keysAre(o, ['engagement', 'campaign_id', 'within_days']) &&
    ['received', 'opened', 'clicked'].includes(o.engagement as string) &&
    typeof o.campaign_id === 'string' &&
    o.campaign_id.trim() === o.campaign_id &&
    Number.isInteger(o.within_days)
  )
    return {
      id,
      kind: 'engagement',
      engagement: o.engagement as EngagementKind,
      campaignId: o.campaign_id,
      withinDays: String(o.within_days),
    };
  if ('event' in o && keysAre(o, ['event', 'where', 'count', 'within_days']) && typeof o.event === 'string') {
    const count = o.count;
    const countOk =
      count === undefined ||
      (isObject(count) &&
        keysAre(count, ['op', 'value']) &&
        CMP_OPS.includes(count.op as CmpOp) &&
        Number.isInteger(count.value));
    const withinOk = o.within_days === undefined || Number.isInteger(o.within_days);
    if (countOk && withinOk)
      return {
        id,
        kind: 'event',
        name: o.event,
        countOp: isObject(count) ? (count.op as CmpOp) : '',
        countValue: isObject(count) ? String(count.value) : '',
        withinDays: o.within_days === undefined ? '' : String(o.within_days),
        where: o.where === undefined ? '' : JSON.stringify(o.where),
      };
  }
  return raw(v);
}

// ---------------------------------------------------------------- paths and checks

/** Each node's path in the JSON `toJson` writes, the root being `rule` (as the API names it). */
export function nodePaths(root: RuleNode, path = 'rule', out = new Map<string, string>()): Map<string, string> {
  out.set(root.id, path);
  if (root.kind === 'group') root.children.forEach((c, i) => nodePaths(c, `${path}.${root.op}[${i}]`, out));
  if (root.kind === 'not') nodePaths(root.child, `${path}.not`, out);
  return out;
}

/**
 * The node an error's field path is about (the deepest node whose path starts it), and the rest
 * of the path (`op`, `count.value`, `where.and[0].op`, or `''` for the node itself). Null when
 * the field is not inside the rule.
 */
export function nodeForField(root: RuleNode, field: string): { id: string; rest: string } | null {
  let best: { id: string; rest: string; len: number } | null = null;
  for (const [id, path] of nodePaths(root)) {
    const inside = field === path || field.startsWith(`${path}.`) || field.startsWith(`${path}[`);
    if (inside && (!best || path.length > best.len)) {
      best = { id, rest: field.slice(path.length).replace(/^\./, ''), len: path.length };
    }
  }
  return best && { id: best.id, rest: best.rest };
}

/** A problem the builder finds before asking the API: a field path and a message key. */
export interface Problem {
  field: string;
  code:
    | 'required'
    | 'number'
    | 'integer'
    | 'days'
    | 'count'
    | 'month'
    | 'uuid'
    | 'time'
    | 'children'
    | 'json'
    | 'path';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;
const inRange = (text: string, lo: number, hi: number) =>
  /^\s*\d+\s*$/.test(text) && Number(text) >= lo && Number(text) <= hi;

/** What the API would refuse in a tree, found without asking it (the API stays the judge). */
export function validate(root: RuleNode): Problem[] {
  const problems: Problem[] = [];
  const paths = nodePaths(root);
  const visit = (node: RuleNode) => {
    const at = paths.get(node.id) as string;
    const add = (rest: string, code: Problem['code']) =>
      problems.push({ field: rest ? `${at}.${rest}` : at, code });
    switch (node.kind) {
      case 'group':
        if (node.children.length < 1 || node.children.length > 100) add(node.op, 'children');
        node.children.forEach(visit);
        return;
      case 'not':
        visit(node.child);
        return;
      case 'tag':
        if (splitList(node.tags).length === 0 || (node.mode === 'tag' && node.tags.trim() === ''))
          add(node.mode, 'required');
        return;
      case 'attribute': {
        const segs = node.path.trim().split('.');
        if (node.path.trim() === '') add('attribute', 'required');
        else if (segs.some((s) => s === '') || segs.length > 8) add('attribute', 'path');
        if (node.op === 'exists') return;
        const values = node.op === 'in' ? splitList(node.value) : [node.value];
        if (values.length === 0 || (node.type !== 'string' && values.some((v) => v.trim() === '')))
          add('value', 'required');
        else if (node.type === 'number' && values.some((v) => !Number.isFinite(Number(v.trim()))))
          add('value', 'number');
        return;
      }
      case 'field': {
        if (node.field === 'birthday') return;
        const values = node.op === 'in' ? splitList(node.value) : [node.value.trim()];
        if (values.length === 0 || values.some((v) => v === '')) add('value', 'required');
        else if (node.field === 'birthday_month' && values.some((v) => !inRange(v, 1, 12))) add('value', 'month');
        else if (node.field === 'created_at' && !RFC3339.test(values[0])) add('value', 'time');
        return;
      }
      case 'engagement':
        if (!UUID.test(node.campaignId.trim())) add('campaign_id', node.campaignId.trim() ? 'uuid' : 'required');
        if (!inRange(node.withinDays, 1, MAX_WITHIN_DAYS)) add('within_days', 'days');
        return;
      case 'event':
        if (node.name.trim() === '' || node.name.trim() !== node.name) add('event', 'required');
        if (node.countOp !== '' && !inRange(node.countValue, 0, MAX_EVENT_COUNT)) add('count.value', 'count');
        if (node.withinDays.trim() !== '' && !inRange(node.withinDays, 1, MAX_WITHIN_DAYS))
          add('within_days', 'days');
        if (node.where.trim() !== '' && !isObject(parseJsonOr(node.where))) add('where', 'json');
        return;
      case 'raw':
        if (!isObject(parseJsonOr(node.json))) add('', 'json');
        return;
    }
  };
  visit(root);
  return problems;
}

// ---------------------------------------------------------------- edits

/** The tree with the node `id` replaced by `f(node)` (`null` removes it from its group). */
export function updateNode(root: RuleNode, id: string, f: (n: RuleNode) => RuleNode | null): RuleNode | null {
  if (root.id === id) return f(root);
  if (root.kind === 'group') {
    const children = root.children
      .map((c) => updateNode(c, id, f))
      .filter((c): c is RuleNode => c !== null);
    return { ...root, children };
  }
  if (root.kind === 'not') {
    const child = updateNode(root.child, id, f);
    return child === null ? null : { ...root, child };
  }
  return root;
}

/** How many conditions (leaves) a tree holds. */
export function conditionCount(node: RuleNode): number {
  if (node.kind === 'group') return node.children.reduce((n, c) => n + conditionCount(c), 0);
  if (node.kind === 'not') return conditionCount(node.child);
  return 1;
}
