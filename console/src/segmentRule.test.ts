import { describe, expect, it } from 'vitest';
import {
  fromJson,
  newCondition,
  newGroup,
  nodeForField,
  nodePaths,
  toJson,
  updateNode,
  validate,
  type AttributeNode,
  type Json,
  type RuleNode,
} from './segmentRule';

const CAMPAIGN = '0190a5b4-1c2d-7e3f-8a9b-0c1d2e3f4a5b';

/** One of every condition kind the builder has a form for, and the raw fallbacks. */
const EVERY_KIND: Json[] = [
  { tag: 'vip' },
  { tags_any: ['vip', '新用户'] },
  { tags_all: ['vip', 'gold'] },
  { attribute: 'level', op: '=', value: 'gold' },
  { attribute: 'address.city', op: '!=', value: '上海' },
  { attribute: 'points', op: '>=', value: 1000 },
  { attribute: 'points', op: '<', value: 2.5 },
  { attribute: 'active', op: '=', value: true },
  { attribute: 'level', op: 'in', value: ['gold', 'silver'] },
  { attribute: 'score', op: 'in', value: [1, 2, 3] },
  { attribute: 'bio', op: 'contains', value: 'tea' },
  { attribute: 'email_verified', op: 'exists' },
  { field: 'created_at', op: '>=', value: '2026-01-01T00:00:00Z' },
  { field: 'locale', op: 'prefix', value: 'zh' },
  { field: 'locale', op: 'in', value: ['zh-CN', 'en-US'] },
  { field: 'birthday_month', op: '=', value: 6 },
  { field: 'birthday_month', op: 'in', value: [1, 2, 12] },
  { field: 'birthday', op: 'is_today' },
  { engagement: 'clicked', campaign_id: CAMPAIGN, within_days: 30 },
  { event: 'purchase' },
  { event: 'purchase', within_days: 30 },
  { event: 'order_paid', where: { property: 'amount', op: '>=', value: 500 }, count: { op: '>=', value: 3 }, within_days: 90 },
  // raw fallbacks: a mixed list, a journey-only test, an unknown shape
  { attribute: 'x', op: 'in', value: ['a', 1] },
  { engagement: 'opened', step: 'welcome' },
  { segment: CAMPAIGN },
];

describe('tree ↔ rule JSON', () => {
  it.each(EVERY_KIND.map((j) => [JSON.stringify(j), j]))('round-trips %s', (_, json) => {
    expect(toJson(fromJson(json))).toEqual(json);
  });

  it('gives the builder a form for every condition kind', () => {
    const kinds = EVERY_KIND.slice(0, 22).map((j) => fromJson(j).kind);
    expect(kinds).not.toContain('raw');
    expect(new Set(kinds)).toEqual(new Set(['tag', 'attribute', 'field', 'engagement', 'event']));
  });

  it('round-trips nested groups and NOT, and toJson ∘ fromJson ∘ toJson is stable', () => {
    const rule: Json = {
      or: [
        { and: [{ tag: 'vip' }, { attribute: 'level', op: '=', value: 'gold' }] },
        { not: { event: 'purchase', within_days: 30 } },
        { not: { not: { or: EVERY_KIND } } },
      ],
    };
    const tree = fromJson(rule);
    expect(tree.kind).toBe('group');
    expect(toJson(tree)).toEqual(rule);
    expect(toJson(fromJson(toJson(tree)))).toEqual(rule);
  });

  it('types attribute values', () => {
    const n: AttributeNode = { id: 'a', kind: 'attribute', path: 'points', op: '>' as const, type: 'number' as const, value: '10' };
    expect(toJson(n)).toEqual({ attribute: 'points', op: '>', value: 10 });
    expect(toJson({ ...n, type: 'string' })).toEqual({ attribute: 'points', op: '>', value: '10' });
    expect(toJson({ ...n, op: 'in', value: '1, 2，3' })).toEqual({ attribute: 'points', op: 'in', value: [1, 2, 3] });
    expect(toJson({ ...n, op: 'exists' })).toEqual({ attribute: 'points', op: 'exists' });
  });
});

describe('paths and errors', () => {
  const tree = fromJson({
    or: [{ and: [{ tag: 'vip' }, { attribute: 'level', op: '=', value: 'gold' }] }, { not: { event: 'purchase' } }],
  });
  const paths = [...nodePaths(tree).values()];

  it('names nodes as the API does', () => {
    expect(paths).toEqual(['rule', 'rule.or[0]', 'rule.or[0].and[0]', 'rule.or[0].and[1]', 'rule.or[1]', 'rule.or[1].not']);
  });

  it('maps an API field to the deepest node and the rest of the path', () => {
    const ids = [...nodePaths(tree).keys()];
    expect(nodeForField(tree, 'rule.or[0].and[1].op')).toEqual({ id: ids[3], rest: 'op' });
    expect(nodeForField(tree, 'rule.or[1].not.count.value')).toEqual({ id: ids[5], rest: 'count.value' });
    expect(nodeForField(tree, 'rule.or[0]')).toEqual({ id: ids[1], rest: '' });
    expect(nodeForField(tree, 'rule.or[0].and')).toEqual({ id: ids[1], rest: 'and' });
    expect(nodeForField(tree, 'rule')).toEqual({ id: ids[0], rest: '' });
    expect(nodeForField(tree, 'name')).toBeNull();
    // `rule.or[1]` must not claim `rule.or[10]`
    expect(nodeForField(tree, 'rule.or[10].tag')).toEqual({ id: ids[0], rest: 'or[10].tag' });
  });
});

describe('validate', () => {
  it('accepts a complete rule', () => {
    expect(validate(fromJson({ and: EVERY_KIND.slice(0, 22) }))).toEqual([]);
  });

  it('names the field of each problem as the API would', () => {
    const root = newGroup('and', [
      newCondition('tag'),
      { ...newCondition('attribute'), path: 'points', type: 'number', value: 'abc' },
      { ...newCondition('field'), field: 'birthday_month', value: '13' },
      { ...newCondition('engagement'), campaignId: 'nope', withinDays: '0' },
      { ...newCondition('event'), name: 'buy', countOp: '>=', countValue: '-1', withinDays: '4000', where: '[1' },
      newGroup('or'),
    ]);
    expect(validate(root)).toEqual([
      { field: 'rule.and[0].tag', code: 'required' },
      { field: 'rule.and[1].value', code: 'number' },
      { field: 'rule.and[2].value', code: 'month' },
      { field: 'rule.and[3].campaign_id', code: 'uuid' },
      { field: 'rule.and[3].within_days', code: 'days' },
      { field: 'rule.and[4].count.value', code: 'count' },
      { field: 'rule.and[4].within_days', code: 'days' },
      { field: 'rule.and[4].where', code: 'json' },
      { field: 'rule.and[5].or', code: 'children' },
    ]);
  });
});

describe('updateNode', () => {
  it('replaces and removes nodes anywhere in the tree', () => {
    const leaf = newCondition('tag');
    const root: RuleNode = newGroup('and', [{ id: 'x', kind: 'not', child: leaf }]);
    const renamed = updateNode(root, leaf.id, (n) => ({ ...n, tags: 'vip' }) as RuleNode);
    expect(toJson(renamed as RuleNode)).toEqual({ and: [{ not: { tag: 'vip' } }] });
    expect(toJson(updateNode(root, 'x', () => null) as RuleNode)).toEqual({ and: [] });
  });
});
