import { describe, expect, it } from 'vitest';
import type { Campaign } from './api/types';
import {
  bodyFromForm,
  editable,
  emptyForm,
  errorLine,
  evenWeights,
  formFromCampaign,
  formSlots,
  FormProblem,
  nextVariantKey,
  slotFor,
  tagsRule,
  toLocalInput,
  toUtc,
  weightShares,
} from './campaignForm';

const campaign: Campaign = {
  id: '0190a000-0000-7000-8000-000000000001',
  name: '双11 A/B',
  type: 'sms',
  status: 'draft',
  target_tags: [],
  target_segment_id: '0190a000-0000-7000-8000-0000000000aa',
  content: '',
  content_template_id: null,
  variants: [
    { key: 'A', weight: 30, content: 'A {{ name }}', template_id: null },
    { key: 'B', weight: 70, content: null, template_id: '0190a000-0000-7000-8000-0000000000bb' },
  ],
  trigger: { kind: 'event', event: 'order_paid', where: { property: 'amount', op: '>=', value: 100 }, delay_seconds: 0, once_per_customer: true, cooldown_hours: 24 },
  paused: false,
  send_at_local: '09:00:00',
  time_zone: 'Asia/Shanghai',
  quiet_hours: { start: '21:00', end: '08:00' },
  created_by: 'x',
  updated_by: 'x',
  created_at: '2026-12-01T00:00:00Z',
  updated_at: '2026-12-01T00:00:00Z',
  start_time: '2026-12-10T01:00:00Z',
  end_time: null,
};

describe('tags → rule', () => {
  it('is the any-of rule the audience uses, none without tags', () => {
    expect(tagsRule(['VIP', '新用户'])).toEqual({ tags_any: ['VIP', '新用户'] });
    expect(tagsRule([])).toBeNull();
  });
});

describe('form ↔ body', () => {
  it('reads a saved campaign and gives the same body back', () => {
    const f = formFromCampaign(campaign);
    expect(f.audience).toBe('segment');
    expect(f.contentKind).toBe('variants');
    expect(f.trigger).toBe('event');
    expect(f.sendAtLocal).toBe('09:00');
    expect(f.start).toBe(toLocalInput('2026-12-10T01:00:00Z'));
    const body = bodyFromForm(f);
    expect(body).toMatchObject({
      name: '双11 A/B',
      type: 'sms',
      target_tags: [],
      target_segment_id: campaign.target_segment_id,
      content: '',
      content_template_id: null,
      variants: [
        { key: 'A', weight: 30, content: 'A {{ name }}' },
        { key: 'B', weight: 70, template_id: '0190a000-0000-7000-8000-0000000000bb' },
      ],
      start_time: '2026-12-10T01:00:00.000Z',
      end_time: null,
      trigger: {
        kind: 'event',
        event: 'order_paid',
        where: { property: 'amount', op: '>=', value: 100 },
        once_per_customer: true,
        cooldown_hours: 24,
      },
      send_at_local: '09:00',
      time_zone: 'Asia/Shanghai',
      quiet_hours: { start: '21:00', end: '08:00' },
    });
  });

  it('clears the alternatives not chosen', () => {
    const f = { ...formFromCampaign(campaign), audience: 'tags' as const, tags: 'VIP，新用户', contentKind: 'content' as const, content: 'hi' };
    const body = bodyFromForm(f);
    expect(body.target_tags).toEqual(['VIP', '新用户']);
    expect(body.target_segment_id).toBeNull();
    expect(body.variants).toEqual([]);
    expect(body.content).toBe('hi');
  });

  it('writes recurring triggers and leaves quiet hours out when empty', () => {
    const f = { ...emptyForm(), name: 'n', trigger: 'recurring' as const, cron: ' 0 9 * * MON ', cronTimeZone: 'Asia/Shanghai' };
    const body = bodyFromForm(f);
    expect(body.trigger).toEqual({ kind: 'recurring', cron: '0 9 * * MON', time_zone: 'Asia/Shanghai' });
    expect(body.quiet_hours).toBeNull();
    expect(body.send_at_local).toBeNull();
    expect(bodyFromForm(emptyForm()).trigger).toEqual({ kind: 'once' });
  });

  it('refuses what cannot be sent, named like the API', () => {
    const f = { ...emptyForm(), trigger: 'event' as const, event: 'x', eventWhere: '{bad' };
    expect(() => bodyFromForm(f)).toThrow(FormProblem);
    try {
      bodyFromForm({ ...f, eventWhere: '', delaySeconds: '1.5' });
    } catch (e) {
      expect((e as FormProblem).field).toBe('trigger.delay_seconds');
    }
  });

  it('round-trips local times', () => {
    expect(toUtc('')).toBeNull();
    expect(toLocalInput(null)).toBe('');
    const iso = '2026-12-10T01:30:00.000Z';
    expect(toUtc(toLocalInput(iso))).toBe(iso);
  });
});

describe('editable', () => {
  it('follows the API: draft, scheduled, a paused recurring one', () => {
    expect(editable({ status: 'draft', paused: false })).toBe(true);
    expect(editable({ status: 'scheduled', paused: false })).toBe(true);
    expect(editable({ status: 'active', paused: true })).toBe(true);
    expect(editable({ status: 'active', paused: false })).toBe(false);
    expect(editable({ status: 'archived', paused: false })).toBe(false);
  });
});

describe('error fields → inputs', () => {
  const slots = formSlots(2);
  it('puts nested fields on their input', () => {
    expect(slotFor('variants[1].weight', slots)).toBe('variants[1].weight');
    expect(slotFor('variants', slots)).toBe('variants');
    expect(slotFor('trigger.cron', slots)).toBe('trigger.cron');
    expect(slotFor('trigger.where.and[1].op', slots)).toBe('trigger.where');
    expect(slotFor('quiet_hours.start', slots)).toBe('quiet_hours.start');
    expect(slotFor('content', slots)).toBe('content');
  });
  it('leaves unknown fields to the form', () => {
    expect(slotFor('variants[4].weight', slots)).toBe('variants');
    expect(slotFor('spend_cap', slots)).toBeNull();
    expect(slotFor(null, slots)).toBeNull();
    expect(slotFor('contents', slots)).toBeNull();
  });
  it('reads the line of a template error', () => {
    expect(errorLine('syntax error: unexpected end of input (line 2)')).toBe(2);
    expect(errorLine('is required')).toBeNull();
  });
});

describe('variants', () => {
  it('shows each weight as a share of the audience', () => {
    const { shares, total } = weightShares([
      { key: 'A', weight: '30' },
      { key: 'B', weight: '70' },
    ]);
    expect(total).toBe(100);
    expect(shares.map((s) => s.percent)).toEqual([30, 70]);
    const odd = weightShares([{ key: 'A', weight: '50' }, { key: 'B', weight: 'x' }]);
    expect(odd.total).toBe(50);
    expect(odd.shares[1].percent).toBe(0);
    expect(weightShares([{ key: 'A', weight: '' }]).shares[0].percent).toBeNull();
  });
  it('names and splits new variants', () => {
    expect(nextVariantKey([{ key: 'A' }, { key: 'C' }])).toBe('B');
    expect(evenWeights(3)).toEqual([34, 33, 33]);
    expect(evenWeights(2)).toEqual([50, 50]);
    expect(evenWeights(3).reduce((a, b) => a + b)).toBe(100);
  });
});
