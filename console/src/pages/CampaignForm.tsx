// Creating and editing a campaign: channel; tags or a saved segment with a live audience count;
// own content, a template or A/B variants with weights; a live preview rendered for a chosen
// customer; a once / recurring / event trigger; local-time delivery and quiet hours. The API's
// errors land on the input they name (`variants[1].weight`, `trigger.cron`, `content` with its
// line). Form state ↔ API body: src/campaignForm.ts.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api } from '../api/client';
import type { Campaign, CampaignBody, Channel, Customer, Segment, Template } from '../api/types';
import { navigate } from '../router';
import { ChannelOptions } from './ChannelOptions';
import { ScheduleCard } from './CampaignSchedule';
import {
  bodyFromForm,
  editable,
  emptyForm,
  evenWeights,
  formFromCampaign,
  formSlots,
  FormProblem,
  parseTags,
  slotFor,
  tagsRule,
  type FormState,
} from '../campaignForm';
import {
  asFieldError,
  AudienceCount,
  CustomerPicker,
  ErrorText,
  PreviewPanel,
  useDebounced,
  VariantsEditor,
  type CountState,
  type FieldError,
  type PreviewState,
} from './campaignFormParts';

type Built = { body: CampaignBody; problem: null } | { body: null; problem: FieldError };

export function CampaignForm({ id }: { id?: string } = {}) {
  const { t } = useI18n();
  const [form, setForm] = useState<FormState>(emptyForm);
  const [saved, setSaved] = useState<{ campaign: Campaign; etag: string | null } | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [templates, setTemplates] = useState<Template[]>([]);
  const [segments, setSegments] = useState<Segment[]>([]);
  const [saveError, setSaveError] = useState<FieldError | null>(null);
  const [stale, setStale] = useState(false);
  const [saving, setSaving] = useState(false);
  const [customer, setCustomer] = useState<Customer | null>(null);
  const [count, setCount] = useState<CountState>({ state: 'none' });
  const [preview, setPreview] = useState<PreviewState>({ state: 'idle' });

  const load = useCallback(() => {
    if (!id) return;
    setStale(false);
    setSaveError(null);
    api
      .getCampaignTagged(id)
      .then((read) => {
        setSaved(read);
        setForm(formFromCampaign(read.campaign));
      })
      .catch((e: Error) => setLoadError(e.message));
  }, [id]);
  useEffect(load, [load]);
  useEffect(() => {
    api.listTemplates().then((d) => setTemplates(d.templates), () => setTemplates([]));
    api.listSegments().then((d) => setSegments(d.segments), () => setSegments([]));
  }, []);

  const update = (patch: Partial<FormState>) => setForm((f) => ({ ...f, ...patch }));
  // A save's error is about the form as it was: any change retires it (the live preview checks
  // the form as it is).
  useEffect(() => setSaveError(null), [form]);

  const built: Built = useMemo(() => {
    try {
      return { body: bodyFromForm(form), problem: null };
    } catch (e) {
      if (e instanceof FormProblem) {
        return { body: null, problem: { field: e.field, message: t(`cf.problem.${e.code}` as Key) } };
      }
      throw e;
    }
  }, [form, t]);
  const savedBody = useMemo(() => (saved ? JSON.stringify(bodyFromForm(formFromCampaign(saved.campaign))) : null), [saved]);
  const bodyText = built.body ? JSON.stringify(built.body) : null;
  const dirty = bodyText !== savedBody;

  // The live audience count, once typing settles.
  const audienceKey = useDebounced(
    form.audience === 'segment' ? `segment:${form.segmentId}` : `tags:${parseTags(form.tags).join('\u0000')}`,
    400,
  );
  useEffect(() => {
    const [kind, rest] = [audienceKey.slice(0, audienceKey.indexOf(':')), audienceKey.slice(audienceKey.indexOf(':') + 1)];
    const rule = kind === 'tags' ? tagsRule(rest ? rest.split('\u0000') : []) : null;
    if ((kind === 'segment' && !rest) || (kind === 'tags' && !rule)) {
      setCount({ state: 'none' });
      return;
    }
    let live = true;
    setCount({ state: 'counting' });
    (kind === 'segment' ? api.segmentCount(rest) : api.countRule((rule ?? {}) as Record<string, never>))
      .then((count) => live && setCount({ state: 'done', count }))
      .catch((e) => live && setCount({ state: 'failed', message: asFieldError(e).error.message }));
    return () => {
      live = false;
    };
  }, [audienceKey]);

  // The live preview for the chosen customer: the saved campaign while unchanged (its real A/B
  // variant), else the form as it stands (nothing is saved).
  const previewKey = useDebounced(`${customer?.id ?? ''}|${dirty}|${bodyText ?? ''}`, 500);
  const request = useRef(0);
  useEffect(() => {
    const [customerId, isDirty, ...rest] = previewKey.split('|');
    const text = rest.join('|');
    if (!customerId) {
      setPreview({ state: 'idle' });
      return;
    }
    if (!text) {
      setPreview({ state: 'blocked' });
      return;
    }
    const n = ++request.current;
    setPreview({ state: 'rendering' });
    const body = JSON.parse(text) as CampaignBody;
    const useSaved = Boolean(id) && isDirty === 'false';
    // An unnamed draft still previews: the name is only the subject's fallback.
    const rendering = useSaved && id
      ? api.previewCampaign(id, customerId)
      : api.previewUnsaved({ ...body, name: body.name || t('form.name') }, customerId);
    rendering
      .then((r) => {
        if (n !== request.current) return;
        const sample = r.previews[0];
        setPreview(sample ? { state: 'done', sample, saved: useSaved } : { state: 'idle' });
      })
      .catch((e) => {
        if (n === request.current) setPreview({ state: 'failed', ...asFieldError(e) });
      });
  }, [previewKey, id, t]);

  // Errors on inputs: what cannot be sent, then the save's, then the preview's (400s only).
  const slots = useMemo(() => formSlots(form.variants.length), [form.variants.length]);
  const errors = [
    built.problem,
    saveError,
    preview.state === 'failed' && preview.status === 400 ? preview.error : null,
  ].filter((e): e is FieldError => e !== null);
  const errorOf = (slot: string) => errors.find((e) => slotFor(e.field, slots) === slot) ?? null;
  const unplaced = errors.filter((e) => slotFor(e.field, slots) === null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!built.body) return;
    setSaving(true);
    setSaveError(null);
    try {
      if (id) {
        await api.updateCampaign(id, built.body, saved?.etag ?? null);
        navigate(`/campaigns/${id}`);
      } else {
        const created = await api.createCampaign(built.body);
        navigate(`/campaigns/${created.id}`);
      }
    } catch (err) {
      const { error, status } = asFieldError(err);
      if (status === 412) setStale(true);
      setSaveError(error);
    } finally {
      setSaving(false);
    }
  }

  if (id && !saved) {
    return loadError ? <p className="error">{t('common.error', { message: loadError })}</p> : <p>{t('common.loading')}</p>;
  }
  if (saved && !editable(saved.campaign)) {
    return (
      <section>
        <h1>{t('cf.editTitle')}</h1>
        <p className="card" role="alert">
          {t('cf.notEditable', { status: t(`status.${saved.campaign.status}` as Key) })}
        </p>
        <button type="button" className="secondary" onClick={() => navigate(`/campaigns/${saved.campaign.id}`)}>
          {t('common.back')}
        </button>
      </section>
    );
  }

  const usable = templates.filter((tpl) => tpl.channel === form.channel);
  const radio = <V extends string>(name: string, value: V, current: V, label: Key, onPick: (v: V) => void) => (
    <label className="cf-radio">
      <input type="radio" name={name} value={value} checked={current === value} onChange={() => onPick(value)} />
      {t(label)}
    </label>
  );
  const input = (slot: string, label: Key, value: string, onChange: (v: string) => void, props: Record<string, unknown> = {}) => (
    <label>
      {t(label)}
      <input name={slot} value={value} onChange={(e) => onChange(e.target.value)} {...props} />
      <ErrorText error={errorOf(slot)} slot={slot} />
    </label>
  );

  return (
    <section>
      <div className="row between">
        <h1>{id ? t('cf.editTitle') : t('form.title')}</h1>
        {saved && (
          <span className={`badge ${saved.campaign.status}`}>{t(`status.${saved.campaign.status}` as Key)}</span>
        )}
      </div>
      <div className="cf-layout">
        <form className="form cf-form" onSubmit={submit} noValidate>
          <div className="card">
            <h2>{t('cf.section.basics')}</h2>
            {input('name', 'form.name', form.name, (name) => update({ name }))}
            <label>
              {t('form.type')}
              <select name="type" value={form.channel} onChange={(e) => update({ channel: e.target.value as Channel, templateId: '' })}>
                <ChannelOptions />
              </select>
              <ErrorText error={errorOf('type')} slot="type" />
            </label>
          </div>

          <div className="card">
            <h2>{t('cf.section.audience')}</h2>
            <div className="row cf-choice">
              {radio('audience', 'tags', form.audience, 'cf.audience.tags', (audience) => update({ audience, segmentId: '' }))}
              {radio('audience', 'segment', form.audience, 'cf.audience.segment', (audience) => update({ audience, tags: '' }))}
            </div>
            {saved && saved.campaign.target_segment_id && saved.campaign.target_tags.length > 0 && (
              <p className="hint">{t('cf.audience.both', { tags: saved.campaign.target_tags.join(', ') })}</p>
            )}
            {form.audience === 'tags' ? (
              input('target_tags', 'form.tags', form.tags, (tags) => update({ tags }))
            ) : (
              <label>
                {t('cf.audience.pickSegment')}
                <select name="target_segment_id" value={form.segmentId} onChange={(e) => update({ segmentId: e.target.value })}>
                  <option value="">{t('cf.audience.noSegment')}</option>
                  {segments.map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.name}
                    </option>
                  ))}
                </select>
                <ErrorText error={errorOf('target_segment_id')} slot="target_segment_id" />
              </label>
            )}
            <AudienceCount count={count} eventTrigger={form.trigger === 'event'} />
          </div>

          <div className="card">
            <h2>{t('cf.section.content')}</h2>
            <div className="row cf-choice">
              {radio('content_kind', 'content', form.contentKind, 'cf.content.own', (contentKind) => update({ contentKind }))}
              {radio('content_kind', 'template', form.contentKind, 'cf.content.template', (contentKind) => update({ contentKind }))}
              {radio('content_kind', 'variants', form.contentKind, 'cf.content.variants', (contentKind) =>
                setForm((f) => ({
                  ...f,
                  contentKind,
                  variants: f.variants.length
                    ? f.variants
                    : evenWeights(2).map((w, i) => ({
                        key: String.fromCharCode(65 + i),
                        content: i === 0 ? f.content : '',
                        templateId: '',
                        weight: String(w),
                      })),
                })),
              )}
            </div>
            {form.contentKind === 'content' && (
              <label>
                {t('form.content')}
                <textarea
                  name="content"
                  rows={5}
                  value={form.content}
                  className={errorOf('content') ? 'invalid' : undefined}
                  onChange={(e) => update({ content: e.target.value })}
                />
                <span className="hint">{t('form.contentHint')}</span>
                <ErrorText error={errorOf('content')} slot="content" />
              </label>
            )}
            {form.contentKind === 'template' && (
              <label>
                {t('form.template')}
                <select name="content_template_id" value={form.templateId} onChange={(e) => update({ templateId: e.target.value })}>
                  <option value="">{t('form.noTemplate')}</option>
                  {usable.map((tpl) => (
                    <option key={tpl.id} value={tpl.id}>
                      {tpl.name}
                    </option>
                  ))}
                </select>
                <ErrorText error={errorOf('content_template_id')} slot="content_template_id" />
              </label>
            )}
            {form.contentKind === 'variants' && (
              <VariantsEditor
                variants={form.variants}
                templates={usable}
                onChange={(variants) => update({ variants })}
                errorOf={errorOf}
              />
            )}
            {form.contentKind !== 'content' && <ErrorText error={errorOf('content')} slot="content" />}
          </div>

          <ScheduleCard form={form} update={update} errorOf={errorOf} />

          {unplaced.map((e, i) => (
            <p key={i} className="error" role="alert" data-testid="form-error">
              {e.field ? t('form.fieldError', { field: e.field, message: e.message }) : e.message}
            </p>
          ))}
          {stale && (
            <p className="error" role="alert" data-testid="stale">
              {t('cf.stale')}{' '}
              <button type="button" className="link" onClick={load}>
                {t('cf.reload')}
              </button>
            </p>
          )}
          <div className="row">
            <button type="submit" disabled={saving || !built.body}>
              {id ? (saving ? t('cf.saving') : t('cf.save')) : saving ? t('form.creating') : t('form.create')}
            </button>
            <button type="button" className="secondary" onClick={() => navigate(id ? `/campaigns/${id}` : '/')}>
              {t('common.cancel')}
            </button>
          </div>
        </form>
        <PreviewPanel
          preview={preview}
          channel={form.channel}
          picker={<CustomerPicker customer={customer} onPick={setCustomer} />}
        />
      </div>
    </section>
  );
}
