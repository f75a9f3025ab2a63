// Parts of the campaign form (pages/CampaignForm.tsx): the error shown on an input, the live
// audience count, the A/B variants editor, the customer picker and the live preview.
import { useEffect, useState, type ReactNode } from 'react';
import { useI18n } from '../i18n';
import { api, ApiFailure } from '../api/client';
import type { Customer, Sample, Template } from '../api/types';
import { formatCount } from '../format';
import { errorLine, evenWeights, nextVariantKey, weightShares, type VariantForm } from '../campaignForm';

/** An error on one input: the API's `field` and message. */
export interface FieldError {
  field: string | null;
  message: string;
}

/** `value` once it has stayed the same for `ms` (typing settles before a request). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** The message under an input, with the line a template error names. */
export function ErrorText({ error, slot }: { error: FieldError | null; slot: string }) {
  const { t } = useI18n();
  if (!error) return null;
  const line = errorLine(error.message);
  return (
    <span className="error cf-error" role="alert" data-field={slot}>
      {line !== null && <span className="cf-line">{t('cf.content.line', { line })}</span>}
      {error.field && error.field !== slot ? `${error.field}: ` : ''}
      {error.message}
    </span>
  );
}

export type CountState =
  | { state: 'none' }
  | { state: 'counting' }
  | { state: 'done'; count: number }
  | { state: 'failed'; message: string };

/** How many customers the audience matches now, in big figures. */
export function AudienceCount({ count, eventTrigger }: { count: CountState; eventTrigger: boolean }) {
  const { t, lang } = useI18n();
  return (
    <div className="cf-count">
      <span className="muted">{t('cf.count.label')}</span>{' '}
      <strong data-testid="audience-count" data-state={count.state}>
        {count.state === 'done'
          ? formatCount(count.count, lang)
          : count.state === 'counting'
            ? t('cf.count.counting')
            : t('cf.count.none')}
      </strong>
      {count.state === 'failed' && <span className="error"> {count.message}</span>}
      <div className="hint">{t('cf.count.hint')}</div>
      {eventTrigger && count.state === 'none' && <div className="hint">{t('cf.count.eventHint')}</div>}
    </div>
  );
}

/** The A/B variants: name, weight, content or template each, and the split they make. */
export function VariantsEditor({
  variants,
  templates,
  onChange,
  errorOf,
}: {
  variants: VariantForm[];
  templates: Template[];
  onChange: (variants: VariantForm[]) => void;
  errorOf: (slot: string) => FieldError | null;
}) {
  const { t } = useI18n();
  const { shares, total } = weightShares(variants);
  const set = (i: number, patch: Partial<VariantForm>) =>
    onChange(variants.map((v, j) => (j === i ? { ...v, ...patch } : v)));
  const add = () => {
    const next = [...variants, { key: nextVariantKey(variants), content: '', templateId: '', weight: '' }];
    const weights = evenWeights(next.length);
    onChange(next.map((v, i) => ({ ...v, weight: String(weights[i]) })));
  };
  return (
    <div className="cf-variants" data-testid="variants">
      <p className="hint">{t('cf.variants.hint')}</p>
      {variants.map((v, i) => (
        <div className="cf-variant" key={i} data-testid={`variant-${i}`}>
          <div className="row">
            <label className="cf-narrow">
              {t('cf.variants.key')}
              <input name={`variants[${i}].key`} value={v.key} onChange={(e) => set(i, { key: e.target.value })} />
              <ErrorText error={errorOf(`variants[${i}].key`)} slot={`variants[${i}].key`} />
            </label>
            <label className="cf-narrow">
              {t('cf.variants.weight')}
              <input
                name={`variants[${i}].weight`}
                type="number"
                min={1}
                max={99}
                value={v.weight}
                onChange={(e) => set(i, { weight: e.target.value })}
              />
              <ErrorText error={errorOf(`variants[${i}].weight`)} slot={`variants[${i}].weight`} />
            </label>
            <label>
              {t('form.template')}
              <select
                name={`variants[${i}].template_id`}
                value={v.templateId}
                onChange={(e) => set(i, { templateId: e.target.value })}
              >
                <option value="">{t('form.noTemplate')}</option>
                {templates.map((tpl) => (
                  <option key={tpl.id} value={tpl.id}>
                    {tpl.name}
                  </option>
                ))}
              </select>
              <ErrorText error={errorOf(`variants[${i}].template_id`)} slot={`variants[${i}].template_id`} />
            </label>
            <button
              type="button"
              className="secondary cf-remove"
              onClick={() => onChange(variants.filter((_, j) => j !== i))}
            >
              {t('cf.variants.remove')}
            </button>
          </div>
          {!v.templateId && (
            <label>
              {t('cf.variants.content')}
              <textarea
                name={`variants[${i}].content`}
                rows={2}
                value={v.content}
                onChange={(e) => set(i, { content: e.target.value })}
              />
            </label>
          )}
          <ErrorText error={errorOf(`variants[${i}].content`)} slot={`variants[${i}].content`} />
        </div>
      ))}
      {variants.length > 0 && (
        <div className="cf-split" data-testid="variant-split">
          <span className="muted">{t('cf.variants.split')}</span>
          <div className="cf-split-bar">
            {shares.map((s, i) => (
              <div
                key={i}
                className={`cf-split-part p${i % 5}`}
                style={{ width: `${s.percent ?? 0}%` }}
                title={`${s.key} ${s.percent?.toFixed(0) ?? 0}%`}
              >
                {(s.percent ?? 0) >= 8 ? `${s.key} ${(s.percent ?? 0).toFixed(0)}%` : ''}
              </div>
            ))}
          </div>
          <span className={total === 100 ? 'muted' : 'error'} data-testid="variant-total">
            {total === 100 ? t('cf.variants.total', { total }) : t('cf.variants.mustBe100', { total })}
          </span>
        </div>
      )}
      <ErrorText error={errorOf('variants')} slot="variants" />
      <div className="row">
        <button type="button" className="secondary" onClick={add} disabled={variants.length >= 5}>
          {t('cf.variants.add')}
        </button>
        {variants.length > 1 && (
          <button
            type="button"
            className="secondary"
            onClick={() => {
              const weights = evenWeights(variants.length);
              onChange(variants.map((v, i) => ({ ...v, weight: String(weights[i]) })));
            }}
          >
            {t('cf.variants.even')}
          </button>
        )}
      </div>
    </div>
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function customerLabel(c: Customer): string {
  return [c.name, c.external_id, c.phone ?? c.email].filter(Boolean).join(' · ') || c.id;
}

/** Finds a customer by id, external id, name, phone or e-mail (`GET /customers?q=`). */
export function CustomerPicker({
  customer,
  onPick,
}: {
  customer: Customer | null;
  onPick: (c: Customer | null) => void;
}) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const query = useDebounced(q.trim(), 300);
  const [found, setFound] = useState<Customer[] | null>(null);
  const [searching, setSearching] = useState(false);
  useEffect(() => {
    if (!query) {
      setFound(null);
      return;
    }
    let live = true;
    setSearching(true);
    const search = UUID.test(query)
      ? api.getCustomer(query).then((c) => [c])
      : api.searchCustomers(query).then((d) => d.customers);
    search
      .catch(() => [] as Customer[])
      .then((list) => {
        if (live) setFound(list);
      })
      .finally(() => live && setSearching(false));
    return () => {
      live = false;
    };
  }, [query]);

  if (customer) {
    return (
      <div className="row cf-picked" data-testid="preview-customer">
        <strong>{customerLabel(customer)}</strong>
        <button type="button" className="link" onClick={() => onPick(null)}>
          {t('cf.preview.change')}
        </button>
      </div>
    );
  }
  return (
    <div className="cf-picker">
      <input
        name="preview_customer"
        placeholder={t('cf.preview.search')}
        value={q}
        onChange={(e) => setQ(e.target.value)}
      />
      {searching && <div className="hint">{t('cf.preview.searching')}</div>}
      {found && !searching && found.length === 0 && <div className="hint">{t('cf.preview.noMatch')}</div>}
      {found && found.length > 0 && (
        <ul className="cf-found" data-testid="customer-results">
          {found.map((c) => (
            <li key={c.id}>
              <button type="button" className="link" onClick={() => onPick(c)}>
                {customerLabel(c)}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export type PreviewState =
  | { state: 'idle' }
  | { state: 'rendering' }
  | { state: 'done'; sample: Sample; saved: boolean }
  | { state: 'failed'; error: FieldError; status: number }
  | { state: 'blocked' };

/** The rendered message for the chosen customer. */
export function PreviewPanel({
  preview,
  channel,
  picker,
}: {
  preview: PreviewState;
  channel: string;
  picker: ReactNode;
}) {
  const { t } = useI18n();
  let body: ReactNode = <p className="muted">{t('cf.preview.pickCustomer')}</p>;
  if (preview.state === 'rendering') body = <p className="muted">{t('cf.preview.rendering')}</p>;
  if (preview.state === 'blocked') body = <p className="muted">{t('cf.preview.fixErrors')}</p>;
  if (preview.state === 'failed') {
    body =
      preview.status === 400 ? (
        <p className="muted">{t('cf.preview.fixErrors')}</p>
      ) : (
        <p className="error" role="alert" data-testid="preview-error">
          {preview.error.message}
        </p>
      );
  }
  if (preview.state === 'done') {
    const s = preview.sample;
    body = (
      <div className="cf-rendered" data-testid="preview">
        <div className="muted">
          {t('cf.preview.to', { to: s.to })}
          {s.variant ? ` · ${t('cf.preview.variant', { variant: s.variant })}` : ''}
        </div>
        {s.subject && channel !== 'sms' && (
          <div>
            <span className="muted">{t('cf.preview.subject')}: </span>
            <strong>{s.subject}</strong>
          </div>
        )}
        {s.error ? (
          <div className="error" data-testid="preview-error">
            {s.error}
          </div>
        ) : (
          <div className="content cf-message" data-testid="preview-body">
            {s.body}
          </div>
        )}
        <div className="hint">{preview.saved ? t('cf.preview.saved') : t('cf.preview.unsaved')}</div>
      </div>
    );
  }
  return (
    <aside className="card cf-preview">
      <h2>{t('cf.preview.title')}</h2>
      <div className="cf-label">{t('cf.preview.customer')}</div>
      {picker}
      {body}
    </aside>
  );
}

/** An ApiFailure (or anything thrown) as the error to show. */
export function asFieldError(e: unknown): { error: FieldError; status: number } {
  if (e instanceof ApiFailure) {
    return { error: { field: e.error.field ?? null, message: e.error.message }, status: e.status };
  }
  return { error: { field: null, message: (e as Error).message }, status: 0 };
}
