// A template's editor (`/templates/new`, `/templates/:id`): name, channel and the channel's parts,
// each in a CodeEditor. The API checks a template when it is saved: an error is shown on the
// field it names, and a syntax error's `(line N)` is marked in that part's editor. Saving an
// existing template sends the `ETag` read (`If-Match`), so a concurrent change is not overwritten.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, ApiFailure } from '../api/client';
import type { Channel, Template, TemplateBody } from '../api/types';
import { navigate } from '../router';
import { fieldError, partsOf, type FieldError, type TemplatePart } from '../templateErrors';
import { ChannelOptions } from './ChannelOptions';
import { CodeEditor, type CodeEditorHandle } from './CodeEditor';
import { TemplatePreview } from './TemplatePreview';

type Parts = Record<TemplatePart, string>;
const EMPTY: Parts = { subject: '', body: '', html_body: '' };

const partsFrom = (tpl: Template): Parts => ({
  subject: tpl.subject ?? '',
  body: tpl.body,
  html_body: tpl.html_body ?? '',
});

function partLabel(part: TemplatePart, channel: Channel): Key {
  if (part === 'subject') return channel === 'push_notification' ? 'templates.part.title' : 'templates.part.subject';
  return part === 'body' ? 'templates.part.body' : 'templates.part.html_body';
}

export function TemplateEditor({ id }: { id?: string }) {
  const { t } = useI18n();
  const [saved, setSaved] = useState<Template | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [channel, setChannel] = useState<Channel>('email');
  const [parts, setParts] = useState<Parts>(EMPTY);
  const [error, setError] = useState<FieldError | null>(null);
  const [conflict, setConflict] = useState(false);
  const [saving, setSaving] = useState(false);
  const [justSaved, setJustSaved] = useState(false);
  const editors = useRef<Partial<Record<TemplatePart, CodeEditorHandle | null>>>({});

  function show(tpl: Template, version: string | null) {
    setSaved(tpl);
    setEtag(version);
    setName(tpl.name);
    setChannel(tpl.channel);
    setParts(partsFrom(tpl));
  }

  function load() {
    if (!id) return;
    setConflict(false);
    setError(null);
    api
      .getTemplate(id)
      .then(({ template, etag }) => show(template, etag))
      .catch((e: Error) => setError({ field: null, part: null, line: null, message: e.message }));
  }
  useEffect(load, [id]); // eslint-disable-line react-hooks/exhaustive-deps

  // After a failed save, the editor of the part at fault shows its line.
  useEffect(() => {
    if (error?.part && error.line) editors.current[error.part]?.showLine(error.line);
  }, [error]);

  const shown = partsOf(channel);
  const dirty =
    saved !== null &&
    (name !== saved.name || shown.some((p) => parts[p] !== partsFrom(saved)[p]));

  async function save(e: FormEvent) {
    e.preventDefault();
    setSaving(true);
    setError(null);
    setJustSaved(false);
    const body: TemplateBody = { name, body: parts.body };
    if (!id) body.channel = channel;
    if (shown.includes('subject')) body.subject = parts.subject.trim() ? parts.subject : null;
    if (shown.includes('html_body')) body.html_body = parts.html_body.trim() ? parts.html_body : null;
    try {
      if (id) {
        const next = await api.updateTemplate(id, body, etag);
        show(next.template, next.etag);
        setJustSaved(true);
      } else {
        const created = await api.createTemplate(body);
        navigate(`/templates/${created.id}`);
      }
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 412) setConflict(true);
      else if (err instanceof ApiFailure) setError(fieldError(err.error));
      else setError({ field: null, part: null, line: null, message: (err as Error).message });
    } finally {
      setSaving(false);
    }
  }

  async function remove() {
    if (!id || !window.confirm(t('templates.deleteConfirm', { name: saved?.name ?? name }))) return;
    try {
      await api.deleteTemplate(id);
      navigate('/templates');
    } catch (err) {
      const e = err as Error;
      setError(err instanceof ApiFailure ? fieldError(err.error) : { field: null, part: null, line: null, message: e.message });
    }
  }

  function edit(part: TemplatePart, value: string) {
    setParts({ ...parts, [part]: value });
    setJustSaved(false);
    // The line marked is the saved text's: once the part changes it may point elsewhere.
    if (error?.part === part) setError(null);
  }

  const message = (field: string) =>
    error?.field === field ? (
      <span className="error" role="alert" id={`error-${field}`}>
        {error.line !== null && <strong>{t('templates.lineError', { line: error.line })}</strong>}
        {error.message}
      </span>
    ) : null;
  const elsewhere = error && !['name', 'channel', ...shown].includes(error.field ?? '');

  if (id && !saved && !error) return <p>{t('common.loading')}</p>;
  return (
    <section className="template-editor">
      <div className="row between">
        <h1>{id ? t('templates.editTitle') : t('templates.newTitle')}</h1>
        <div className="row">
          {id && (
            <button type="button" className="secondary danger" onClick={remove}>
              {t('templates.delete')}
            </button>
          )}
          <button type="button" className="secondary" onClick={() => navigate('/templates')}>
            {t('common.back')}
          </button>
        </div>
      </div>
      {conflict && (
        <p className="error" role="alert">
          {t('templates.conflict')}{' '}
          <button type="button" className="secondary" onClick={load}>
            {t('templates.reload')}
          </button>
        </p>
      )}
      {elsewhere && (
        <p className="error" role="alert">
          {t('common.error', { message: error.message })}
        </p>
      )}
      <div className="template-columns">
        <form className="card form" onSubmit={save} data-testid="template-form">
          <label>
            {t('templates.name')}
            <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
            {message('name')}
          </label>
          <label>
            {t('templates.channel')}
            <select
              name="channel"
              value={channel}
              disabled={Boolean(id)}
              title={id ? t('templates.channelFixed') : undefined}
              onChange={(e) => setChannel(e.target.value as Channel)}
            >
              <ChannelOptions />
            </select>
            {message('channel')}
          </label>
          {shown.map((part) => (
            <div key={part} className="part" data-testid={`part-${part}`} data-error={error?.field === part || undefined}>
              <label htmlFor={`part-${part}`}>{t(partLabel(part, channel))}</label>
              <CodeEditor
                ref={(h) => {
                  editors.current[part] = h;
                }}
                name={part}
                value={parts[part]}
                onChange={(v) => edit(part, v)}
                markedLine={error?.field === part ? error.line : null}
                rows={part === 'subject' ? 2 : part === 'html_body' ? 10 : 6}
                invalid={error?.field === part}
                describedBy={error?.field === part ? `error-${part}` : undefined}
              />
              {message(part)}
            </div>
          ))}
          <p className="hint">{t('templates.hint')}</p>
          {saved && (
            <p className="hint">
              {t('templates.variables')}: <span className="mono">{saved.variables.join(', ') || '—'}</span>
            </p>
          )}
          <div className="row">
            <button type="submit" disabled={saving}>
              {saving ? t('templates.saving') : t('templates.save')}
            </button>
            {justSaved && (
              <span className="ok" role="status">
                {t('templates.saved')}
              </span>
            )}
            {dirty && <span className="muted">{t('templates.unsaved')}</span>}
          </div>
        </form>
        <div className="card">
          <h2>{t('templates.preview.title')}</h2>
          {saved ? (
            <TemplatePreview templateId={saved.id} version={saved.updated_at} dirty={dirty} />
          ) : (
            <p className="muted">{t('templates.preview.saveFirst')}</p>
          )}
        </div>
      </div>
    </section>
  );
}
