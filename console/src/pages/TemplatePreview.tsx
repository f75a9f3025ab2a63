// A saved template rendered for one customer (POST /templates/:id/preview; nothing is sent):
// find the customer (GET /customers?q=), then see the message as it would leave, the HTML part
// in a sandboxed frame (no script runs).
import { useEffect, useState, type FormEvent } from 'react';
import { useI18n } from '../i18n';
import { api } from '../api/client';
import type { Sample } from '../api/types';

type Customer = Awaited<ReturnType<typeof api.findCustomers>>['customers'][number];

export function TemplatePreview({
  templateId,
  version,
  dirty,
}: {
  templateId: string;
  /** The saved version (`updated_at`): the preview is rendered again when it changes. */
  version: string;
  dirty: boolean;
}) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [found, setFound] = useState<Customer[] | null>(null);
  const [customer, setCustomer] = useState<Customer | null>(null);
  const [sample, setSample] = useState<Sample | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function find(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      setFound((await api.findCustomers(q.trim())).customers);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  useEffect(() => {
    if (!customer) return;
    let live = true;
    setError(null);
    api
      .previewTemplate(templateId, customer.id)
      .then((s) => live && setSample(s))
      .catch((e: Error) => live && (setSample(null), setError(e.message)));
    return () => {
      live = false;
    };
  }, [templateId, version, customer]);

  const who = (c: Customer) => c.name || t('templates.preview.noName');
  return (
    <div className="template-preview" data-testid="template-preview">
      <form className="row" onSubmit={find}>
        <label className="grow">
          {t('templates.preview.customer')}
          <input name="preview_q" value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
        <button type="submit" className="secondary">
          {t('templates.preview.search')}
        </button>
      </form>
      {found && found.length === 0 && <p className="muted">{t('templates.preview.none')}</p>}
      {found && found.length > 0 && (
        <ul className="customer-choices">
          {found.map((c) => (
            <li key={c.id}>
              <button
                type="button"
                className={c.id === customer?.id ? 'secondary chosen' : 'secondary'}
                onClick={() => setCustomer(c)}
              >
                {who(c)}
                <span className="muted"> {[c.email, c.phone, c.external_id].filter(Boolean).join(' · ')}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="error" role="alert">
          {t('common.error', { message: error })}
        </p>
      )}
      {customer && sample && (
        <div className="sample" data-testid="preview-sample">
          <h3>{t('templates.preview.for', { name: who(customer) })}</h3>
          {dirty && <p className="muted">{t('templates.preview.savedVersion')}</p>}
          <dl className="facts">
            <dt>{t('templates.preview.to')}</dt>
            <dd>{sample.to}</dd>
            {sample.subject && (
              <>
                <dt>{t('templates.preview.subject')}</dt>
                <dd data-testid="preview-subject">{sample.subject}</dd>
              </>
            )}
            <dt>{t('templates.preview.body')}</dt>
            <dd className="content" data-testid="preview-body">
              {sample.error ?? sample.body}
            </dd>
          </dl>
          {sample.html_body && (
            <>
              <h3>{t('templates.preview.html')}</h3>
              <iframe
                className="html-preview"
                sandbox=""
                srcDoc={sample.html_body}
                title={t('templates.preview.html')}
                data-testid="preview-html"
              />
            </>
          )}
        </div>
      )}
    </div>
  );
}
