// The campaign form's state and how it maps to the API: a Campaign read → form state → the
// CampaignBody of POST/PUT /campaigns (and of the unsaved preview); tags → the segment rule that
// counts them; an API error's `field` → the input that shows it; A/B weights → percentages.
// Pure functions only (vitest: campaignForm.test.ts); the page is pages/CampaignForm.tsx.
import type { Campaign, CampaignBody, Channel } from './api/types';

export type AudienceKind = 'tags' | 'segment';
export type ContentKind = 'content' | 'template' | 'variants';
export type TriggerKind = 'once' | 'recurring' | 'event';

export interface VariantForm {
  key: string;
  content: string;
  templateId: string;
  /** As typed (a whole percent 1–99). */
  weight: string;
}

export interface FormState {
  name: string;
  channel: Channel;
  audience: AudienceKind;
  tags: string;
  segmentId: string;
  contentKind: ContentKind;
  content: string;
  templateId: string;
  variants: VariantForm[];
  /** `datetime-local` values (the browser's clock); '' for none. */
  start: string;
  end: string;
  trigger: TriggerKind;
  cron: string;
  cronTimeZone: string;
  event: string;
  /** The event trigger's `where` rule as JSON text; '' for none. */
  eventWhere: string;
  delaySeconds: string;
  cooldownHours: string;
  oncePerCustomer: boolean;
  /** `HH:MM` or ''. */
  sendAtLocal: string;
  timeZone: string;
  quietStart: string;
  quietEnd: string;
}

export function emptyForm(): FormState {
  return {
    name: '',
    channel: 'sms',
    audience: 'tags',
    tags: '',
    segmentId: '',
    contentKind: 'content',
    content: '',
    templateId: '',
    variants: [],
    start: '',
    end: '',
    trigger: 'once',
    cron: '',
    cronTimeZone: 'Asia/Shanghai',
    event: '',
    eventWhere: '',
    delaySeconds: '',
    cooldownHours: '',
    oncePerCustomer: false,
    sendAtLocal: '',
    timeZone: '',
    quietStart: '',
    quietEnd: '',
  };
}

/** `a, b，c` → ['a', 'b', 'c'] (ASCII and full-width commas). */
export function parseTags(text: string): string[] {
  return text
    .split(/[,，]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The segment rule matching what a campaign's `target_tags` reach: customers with any of them. */
export function tagsRule(tags: string[]): { tags_any: string[] } | null {
  return tags.length ? { tags_any: tags } : null;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** An RFC 3339 instant as a `datetime-local` value on the browser's clock; '' for none. */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value (the browser's clock) as RFC 3339 UTC; null when empty. */
export function toUtc(local: string): string | null {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** `09:00:00` or `09:00` → `09:00` (what `<input type=time>` shows). */
export function clock(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 5) : '';
}

/** The next free A/B key: A, B, … */
export function nextVariantKey(variants: { key: string }[]): string {
  for (let i = 0; i < 26; i++) {
    const key = String.fromCharCode(65 + i);
    if (!variants.some((v) => v.key === key)) return key;
  }
  return `V${variants.length + 1}`;
}

/** Splits 100 between `n` variants in whole percents (the first ones get the remainder). */
export function evenWeights(n: number): number[] {
  if (n <= 0) return [];
  const base = Math.floor(100 / n);
  return Array.from({ length: n }, (_, i) => base + (i < 100 - base * n ? 1 : 0));
}

export interface Share {
  key: string;
  weight: number;
  /** Its share of the audience given the weights typed (0–100), null when they sum to 0. */
  percent: number | null;
}

/** Each variant's share of the audience; `total` must be 100 for the API to accept them. */
export function weightShares(variants: { key: string; weight: string }[]): { shares: Share[]; total: number } {
  const weights = variants.map((v) => {
    const w = Number(v.weight);
    return Number.isFinite(w) && w > 0 ? w : 0;
  });
  const total = weights.reduce((a, b) => a + b, 0);
  return {
    total,
    shares: variants.map((v, i) => ({
      key: v.key,
      weight: weights[i],
      percent: total > 0 ? (weights[i] / total) * 100 : null,
    })),
  };
}

/** A form problem found before asking the API, named like the API's fields. */
export class FormProblem extends Error {
  constructor(
    public field: string,
    public code: 'json' | 'number',
  ) {
    super(`${field}: ${code}`);
  }
}

function optionalInt(field: string, text: string): number | undefined {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new FormProblem(field, 'number');
  return n;
}

/** The trigger object of the body. */
export function triggerOf(f: FormState): Record<string, unknown> {
  if (f.trigger === 'recurring') {
    return { kind: 'recurring', cron: f.cron.trim(), time_zone: f.cronTimeZone.trim() };
  }
  if (f.trigger === 'event') {
    const t: Record<string, unknown> = {
      kind: 'event',
      event: f.event.trim(),
      once_per_customer: f.oncePerCustomer,
    };
    if (f.eventWhere.trim()) {
      try {
        t.where = JSON.parse(f.eventWhere);
      } catch {
        throw new FormProblem('trigger.where', 'json');
      }
    }
    const delay = optionalInt('trigger.delay_seconds', f.delaySeconds);
    if (delay !== undefined) t.delay_seconds = delay;
    const cooldown = optionalInt('trigger.cooldown_hours', f.cooldownHours);
    if (cooldown !== undefined) t.cooldown_hours = cooldown;
    return t;
  }
  return { kind: 'once' };
}

/**
 * The body of POST /campaigns and PUT /campaigns/{id}. Every field is given (the unused
 * alternatives as `null` or empty), so a PUT leaves nothing of a replaced choice behind: a
 * campaign moved from a segment to tags loses its segment. Throws FormProblem for input that
 * cannot even be sent (bad JSON, a non-integer).
 */
export function bodyFromForm(f: FormState): CampaignBody {
  const quiet =
    f.quietStart || f.quietEnd ? { start: f.quietStart, end: f.quietEnd } : null;
  return {
    name: f.name,
    type: f.channel,
    target_tags: f.audience === 'tags' ? parseTags(f.tags) : [],
    target_segment_id: f.audience === 'segment' && f.segmentId ? f.segmentId : null,
    content: f.contentKind === 'content' ? f.content : '',
    content_template_id: f.contentKind === 'template' && f.templateId ? f.templateId : null,
    variants:
      f.contentKind === 'variants'
        ? f.variants.map((v) => ({
            key: v.key.trim() || null,
            weight: v.weight.trim() === '' ? null : Number(v.weight),
            ...(v.templateId ? { template_id: v.templateId } : { content: v.content }),
          }))
        : [],
    start_time: toUtc(f.start),
    end_time: toUtc(f.end),
    // The document leaves these objects open (`Record<string, never>`): their shape is the API's.
    trigger: triggerOf(f) as CampaignBody['trigger'],
    send_at_local: f.sendAtLocal || null,
    time_zone: f.timeZone.trim() || null,
    quiet_hours: quiet as CampaignBody['quiet_hours'],
  };
}

/** The form showing a saved campaign. */
export function formFromCampaign(c: Campaign): FormState {
  const f = emptyForm();
  const trigger = (c.trigger ?? {}) as Record<string, unknown>;
  const quiet = (c.quiet_hours ?? null) as { start?: unknown; end?: unknown } | null;
  const variants: VariantForm[] = c.variants.map((v) => ({
    key: v.key,
    content: v.content ?? '',
    templateId: v.template_id ?? '',
    weight: String(v.weight),
  }));
  const kind = trigger.kind === 'recurring' || trigger.kind === 'event' ? trigger.kind : 'once';
  return {
    ...f,
    name: c.name,
    channel: c.type,
    audience: c.target_segment_id ? 'segment' : 'tags',
    tags: c.target_tags.join(', '),
    segmentId: c.target_segment_id ?? '',
    contentKind: variants.length ? 'variants' : c.content_template_id ? 'template' : 'content',
    content: c.content,
    templateId: c.content_template_id ?? '',
    variants,
    start: toLocalInput(c.start_time),
    end: toLocalInput(c.end_time),
    trigger: kind,
    cron: typeof trigger.cron === 'string' ? trigger.cron : '',
    cronTimeZone: typeof trigger.time_zone === 'string' ? trigger.time_zone : f.cronTimeZone,
    event: typeof trigger.event === 'string' ? trigger.event : '',
    eventWhere: trigger.where ? JSON.stringify(trigger.where) : '',
    delaySeconds:
      typeof trigger.delay_seconds === 'number' && trigger.delay_seconds > 0
        ? String(trigger.delay_seconds)
        : '',
    cooldownHours: typeof trigger.cooldown_hours === 'number' ? String(trigger.cooldown_hours) : '',
    oncePerCustomer: trigger.once_per_customer === true,
    sendAtLocal: clock(c.send_at_local),
    timeZone: c.time_zone ?? '',
    quietStart: clock(quiet?.start),
    quietEnd: clock(quiet?.end),
  };
}

/** Whether the API lets the campaign be edited (PUT answers 409 otherwise). */
export function editable(c: Pick<Campaign, 'status' | 'paused'>): boolean {
  return c.status === 'draft' || c.status === 'scheduled' || (c.status === 'active' && c.paused);
}

/**
 * Which of the form's `slots` shows an error naming `field`: the longest slot that is the
 * field or an ancestor of it (`trigger.where.and[1].op` → `trigger.where`,
 * `variants[1].weight` → itself, `quiet_hours` → `quiet_hours`); null when none does.
 */
export function slotFor(field: string | null | undefined, slots: readonly string[]): string | null {
  if (!field) return null;
  let best: string | null = null;
  for (const slot of slots) {
    const inside =
      field === slot || field.startsWith(`${slot}.`) || field.startsWith(`${slot}[`);
    if (inside && (best === null || slot.length > best.length)) best = slot;
  }
  return best;
}

/** The line a template error names (`… (line 2)`), null when none. */
export function errorLine(message: string): number | null {
  const m = /\(line (\d+)\)/.exec(message);
  return m ? Number(m[1]) : null;
}

/** The form's error slots (see slotFor), the variants' included. */
export function formSlots(variantCount: number): string[] {
  const slots = [
    'name',
    'type',
    'target_tags',
    'target_segment_id',
    'content',
    'content_template_id',
    'variants',
    'start_time',
    'end_time',
    'trigger',
    'trigger.kind',
    'trigger.cron',
    'trigger.time_zone',
    'trigger.event',
    'trigger.where',
    'trigger.delay_seconds',
    'trigger.cooldown_hours',
    'trigger.once_per_customer',
    'send_at_local',
    'time_zone',
    'quiet_hours',
    'quiet_hours.start',
    'quiet_hours.end',
    'customer_id',
  ];
  for (let i = 0; i < variantCount; i++) {
    for (const part of ['key', 'weight', 'content', 'template_id']) slots.push(`variants[${i}].${part}`);
  }
  return slots;
}
