import { useEffect, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, ApiFailure } from '../api/client';
import type { Channel, Template } from '../api/types';
import { navigate } from '../router';
import { CHANNELS } from './CampaignList';

/** `a, b，c` → ['a', 'b', 'c'] (ASCII and full-width commas). */
export function parseTags(text: string): string[] {
  return text
    .split(/[,，]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A `datetime-local` value (the browser's clock) as RFC 3339 UTC; null when empty. */
function toUtc(local: string): string | null {
  return local ? new Date(local).toISOString() : null;
}

export function CampaignForm({ id }: { id?: string } = {}) {
  void id; // editing an existing campaign: see the campaign form issue work
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [channel, setChannel] = useState<Channel>('sms');
  const [tags, setTags] = useState('');
  const [content, setContent] = useState('');
  const [templateId, setTemplateId] = useState('');
  const [start, setStart] = useState('');
  const [end, setEnd] = useState('');
  const [templates, setTemplates] = useState<Template[]>([]);
  const [error, setError] = useState<{ field: string | null; message: string } | null>(null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    api
      .listTemplates()
      .then((d) => setTemplates(d.templates))
      .catch(() => setTemplates([]));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaving(true);
    setError(null);
    try {
      const created = await api.createCampaign({
        name,
        type: channel,
        target_tags: parseTags(tags),
        ...(templateId ? { content_template_id: templateId } : { content }),
        start_time: toUtc(start),
        end_time: toUtc(end),
      });
      navigate(`/campaigns/${created.id}`);
    } catch (err) {
      if (err instanceof ApiFailure) setError({ field: err.error.field ?? null, message: err.error.message });
      else setError({ field: null, message: (err as Error).message });
    } finally {
      setSaving(false);
    }
  }

  const fieldError = (field: string) =>
    error?.field === field ? (
      <span className="error" role="alert">
        {error.message}
      </span>
    ) : null;
  const usable = templates.filter((tpl) => tpl.channel === channel);

  return (
    <section>
      <h1>{t('form.title')}</h1>
      <form className="card form" onSubmit={submit}>
        <label>
          {t('form.name')}
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
          {fieldError('name')}
        </label>
        <label>
          {t('form.type')}
          <select
            name="type"
            value={channel}
            onChange={(e) => setChannel(e.target.value as Channel)}
          >
            {CHANNELS.map((c) => (
              <option key={c} value={c}>
                {t(`channel.${c}` as Key)}
              </option>
            ))}
          </select>
          {fieldError('type')}
        </label>
        <label>
          {t('form.tags')}
          <input name="target_tags" value={tags} onChange={(e) => setTags(e.target.value)} />
          {fieldError('target_tags')}
        </label>
        <label>
          {t('form.template')}
          <select
            name="content_template_id"
            value={templateId}
            onChange={(e) => setTemplateId(e.target.value)}
          >
            <option value="">{t('form.noTemplate')}</option>
            {usable.map((tpl) => (
              <option key={tpl.id} value={tpl.id}>
                {tpl.name}
              </option>
            ))}
          </select>
          {fieldError('content_template_id')}
        </label>
        {!templateId && (
          <label>
            {t('form.content')}
            <textarea
              name="content"
              rows={4}
              value={content}
              onChange={(e) => setContent(e.target.value)}
            />
            <span className="hint">{t('form.contentHint')}</span>
            {fieldError('content')}
          </label>
        )}
        <div className="row">
          <label>
            {t('form.startTime')}
            <input
              name="start_time"
              type="datetime-local"
              value={start}
              onChange={(e) => setStart(e.target.value)}
            />
            {fieldError('start_time')}
          </label>
          <label>
            {t('form.endTime')}
            <input
              name="end_time"
              type="datetime-local"
              value={end}
              onChange={(e) => setEnd(e.target.value)}
            />
            {fieldError('end_time')}
          </label>
        </div>
        {error && !['name', 'type', 'target_tags', 'content', 'content_template_id', 'start_time', 'end_time'].includes(error.field ?? '') && (
          <p className="error" role="alert">
            {error.field ? t('form.fieldError', { field: error.field, message: error.message }) : error.message}
          </p>
        )}
        <div className="row">
          <button type="submit" disabled={saving}>
            {saving ? t('form.creating') : t('form.create')}
          </button>
          <button type="button" className="secondary" onClick={() => navigate('/')}>
            {t('common.cancel')}
          </button>
        </div>
      </form>
    </section>
  );
}
