// The customers section: every path under /customers (see SECTIONS in src/App.tsx). Lookup by a
// piece of name / e-mail / phone / external id, by external id or by tag (`GET /customers`,
// paged by cursor); a customer's page with attributes, tags, each channel's address and opt-out,
// their recent messages, an opt-out per channel or all, and erasure after a confirmation.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, ApiFailure, type CustomerQuery } from '../api/client';
import type { Customer, MessageRecord, OptOutScope } from '../api/types';
import { matchRoute, navigate } from '../router';
import { Link } from '../Link';
import { channelLines, customerLabel, newestFirst } from '../customerView';

export function CustomersSection({ path }: { path: string }) {
  const params = matchRoute('/customers/:id', path);
  return params ? <CustomerPage key={params.id} id={params.id} /> : <CustomerLookup />;
}

const message = (err: unknown) => (err instanceof ApiFailure ? err.error.message : (err as Error).message);

/** The last lookup, so coming back from a customer shows it again; the last erasure's notice. */
let lastQuery: CustomerQuery = {};
let erasedNotice: string | null = null;

function CustomerLookup() {
  const { t } = useI18n();
  const [query, setQuery] = useState<CustomerQuery>(lastQuery);
  const [customers, setCustomers] = useState<Customer[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice] = useState(() => {
    const n = erasedNotice;
    erasedNotice = null;
    return n;
  });

  // Only the latest search's answer is shown (the first listing may answer after a lookup).
  const latest = useRef(0);
  async function search(q: CustomerQuery, more = false) {
    setError(null);
    const mine = ++latest.current;
    try {
      const page = await api.listCustomers({ ...q, cursor: more ? next : undefined });
      if (mine !== latest.current) return;
      setCustomers((prev) => (more && prev ? [...prev, ...page.customers] : page.customers));
      setNext(page.next ?? null);
      lastQuery = q;
    } catch (err) {
      if (mine === latest.current) setError(message(err));
    }
  }

  useEffect(() => {
    void search(lastQuery);
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void search(query);
  };
  const input = (name: 'q' | 'external_id' | 'tag', label: Key) => (
    <label>
      {t(label)}
      <input name={name} value={query[name] ?? ''} onChange={(e) => setQuery({ ...query, [name]: e.target.value })} />
    </label>
  );

  return (
    <section>
      <h1>{t('nav.customers')}</h1>
      {notice && (
        <p className="card notice" role="status">
          {notice}
        </p>
      )}
      <form className="row filters" onSubmit={submit}>
        {input('q', 'cust.q')}
        {input('external_id', 'cust.externalId')}
        {input('tag', 'cust.tag')}
        <button type="submit">{t('cust.search')}</button>
      </form>
      {error && (
        <p className="error" role="alert">
          {t('common.error', { message: error })}
        </p>
      )}
      {!customers ? (
        <p className="muted">{t('common.loading')}</p>
      ) : customers.length === 0 ? (
        <p className="muted card" data-testid="no-customers">
          {t('cust.none')}
        </p>
      ) : (
        <table className="grid" data-testid="customers">
          <thead>
            <tr>
              <th>{t('cust.name')}</th>
              <th>{t('cust.externalId')}</th>
              <th>{t('cust.email')}</th>
              <th>{t('cust.phone')}</th>
              <th>{t('cust.tags')}</th>
              <th>{t('cust.optOuts')}</th>
            </tr>
          </thead>
          <tbody>
            {customers.map((c) => (
              <tr key={c.id} data-id={c.id}>
                <td>
                  <Link to={`/customers/${c.id}`}>
                    {c.name || c.id}
                  </Link>
                </td>
                <td>{c.external_id}</td>
                <td>{c.email}</td>
                <td>{c.phone}</td>
                <td>
                  {c.tags.map((tag) => (
                    <span key={tag} className="badge">
                      {tag}
                    </span>
                  ))}
                </td>
                <td>{c.opt_outs.map((o) => t(`cust.channel.${o}` as Key)).join('、')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <div className="row pager">
          <button type="button" className="secondary" onClick={() => void search(lastQuery, true)}>
            {t('cust.more')}
          </button>
        </div>
      )}
    </section>
  );
}

/** How many of the customer's newest messages the page shows. */
const RECENT_RECORDS = 20;

function CustomerPage({ id }: { id: string }) {
  const { t } = useI18n();
  const [customer, setCustomer] = useState<Customer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [scope, setScope] = useState<OptOutScope>('sms');
  const [optOutError, setOptOutError] = useState<string | null>(null);
  const [optOutDone, setOptOutDone] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [eraseError, setEraseError] = useState<string | null>(null);
  const [records, setRecords] = useState<{ record: MessageRecord; campaign: string }[] | null>(null);

  useEffect(() => {
    api.getCustomer(id).then(setCustomer, (err: unknown) => setError(message(err)));
    // The customer's records in every campaign (oldest first from the API): the newest, each
    // with its campaign's name.
    api
      .customerRecords(id)
      .then(async (all) => {
        const recent = newestFirst(all, (r) => r.id).slice(0, RECENT_RECORDS);
        const ids = [...new Set(recent.map((r) => r.campaign_id))];
        const names = new Map(
          await Promise.all(
            ids.map(async (c): Promise<[string, string]> => [c, (await api.getCampaign(c)).name]),
          ),
        );
        setRecords(recent.map((record) => ({ record, campaign: names.get(record.campaign_id) ?? record.campaign_id })));
      })
      .catch(() => setRecords([]));
  }, [id]);

  async function optOut(e: FormEvent) {
    e.preventDefault();
    setOptOutError(null);
    setOptOutDone(null);
    try {
      await api.optOut(id, scope);
      setCustomer(await api.getCustomer(id));
      setOptOutDone(t('cust.optOutDone', { channel: t(`cust.channel.${scope}` as Key) }));
    } catch (err) {
      setOptOutError(message(err));
    }
  }

  async function erase(c: Customer) {
    setEraseError(null);
    try {
      await api.eraseCustomer(c.id);
      erasedNotice = t('cust.erased', { name: customerLabel(c) });
      navigate('/customers');
    } catch (err) {
      setEraseError(message(err));
    }
  }

  if (error)
    return (
      <section>
        <p className="error" role="alert">
          {t('common.error', { message: error })}
        </p>
        <button type="button" className="secondary" onClick={() => navigate('/customers')}>
          {t('common.back')}
        </button>
      </section>
    );
  if (!customer) return <p className="muted">{t('common.loading')}</p>;
  const attributes = JSON.stringify(customer.attributes ?? {}, null, 2);

  return (
    <section>
      <div className="row between">
        <h1 data-testid="customer-name">{customerLabel(customer)}</h1>
        <div className="row">
          <button type="button" className="secondary" onClick={() => navigate('/customers')}>
            {t('common.back')}
          </button>
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            {t('cust.erase')}
          </button>
        </div>
      </div>
      <div className="cust-grid">
        <div className="card">
          <h2>{t('cust.profile')}</h2>
          <dl className="facts">
            <dt>ID</dt>
            <dd>
              <code>{customer.id}</code>
            </dd>
            <dt>{t('cust.externalId')}</dt>
            <dd>{customer.external_id ?? '—'}</dd>
            <dt>{t('cust.locale')}</dt>
            <dd>{customer.locale ?? '—'}</dd>
            <dt>{t('cust.timeZone')}</dt>
            <dd>{customer.time_zone ?? '—'}</dd>
            <dt>{t('cust.birthday')}</dt>
            <dd>{customer.birthday ?? '—'}</dd>
            <dt>{t('cust.created')}</dt>
            <dd>{new Date(customer.created_at).toLocaleString()}</dd>
            <dt>{t('cust.tags')}</dt>
            <dd data-testid="customer-tags">
              {customer.tags.length === 0
                ? '—'
                : customer.tags.map((tag) => (
                    <span key={tag} className="badge">
                      {tag}
                    </span>
                  ))}
            </dd>
          </dl>
          <h3>{t('cust.attributes')}</h3>
          <pre className="cust-attrs" data-testid="customer-attributes">
            {attributes}
          </pre>
        </div>
        <div className="card">
          <h2>{t('cust.channels')}</h2>
          <table className="grid" data-testid="channels">
            <thead>
              <tr>
                <th>{t('cust.channel')}</th>
                <th>{t('cust.address')}</th>
                <th>{t('cust.optOut')}</th>
              </tr>
            </thead>
            <tbody>
              {channelLines(customer).map((l) => (
                <tr key={l.channel} data-channel={l.channel}>
                  <td>{t(`cust.channel.${l.channel}` as Key)}</td>
                  <td>{l.address ?? <span className="muted">{t('cust.noAddress')}</span>}</td>
                  <td data-testid="opt-out-state">
                    {l.optedOut ? <span className="badge archived">{t('cust.optedOut')}</span> : <span className="muted">{t('cust.subscribed')}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted">
            {t('cust.optOutsRaw')}: <span data-testid="opt-outs">{customer.opt_outs.length ? customer.opt_outs.join(', ') : t('common.none')}</span>
          </p>
          <form className="row" onSubmit={optOut}>
            <label>
              {t('cust.optOutScope')}
              <select name="opt-out" value={scope} onChange={(e) => setScope(e.target.value as OptOutScope)}>
                {(['sms', 'email', 'push_notification', 'wechat', 'all'] as OptOutScope[]).map((s) => (
                  <option key={s} value={s}>
                    {t(`cust.channel.${s}` as Key)}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit">{t('cust.addOptOut')}</button>
          </form>
          {optOutDone && (
            <p className="ok" role="status">
              {optOutDone}
            </p>
          )}
          {optOutError && (
            <p className="error" role="alert">
              {optOutError}
            </p>
          )}
        </div>
      </div>
      <div className="card">
        <h2>{t('cust.records')}</h2>
        <p className="muted">{t('cust.recordsHint', { count: RECENT_RECORDS })}</p>
        {!records ? (
          <p className="muted">{t('common.loading')}</p>
        ) : records.length === 0 ? (
          <p className="muted" data-testid="no-records">
            {t('cust.noRecords')}
          </p>
        ) : (
          <table className="grid" data-testid="records">
            <thead>
              <tr>
                <th>{t('cust.campaign')}</th>
                <th>{t('cust.channel')}</th>
                <th>{t('cust.status')}</th>
                <th>{t('cust.sentAt')}</th>
              </tr>
            </thead>
            <tbody>
              {records.map(({ record, campaign }) => (
                <tr key={record.id}>
                  <td>
                    <Link to={`/campaigns/${record.campaign_id}`}>
                      {campaign}
                    </Link>
                  </td>
                  <td>{t(`cust.channel.${record.channel}` as Key)}</td>
                  <td>
                    <span className="badge">{t(`cust.record.${record.status}` as Key)}</span>
                  </td>
                  <td>{record.sent_at ? new Date(record.sent_at).toLocaleString() : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {confirming && (
        <div className="modal" role="dialog" aria-modal="true">
          <div className="card">
            <h2>{t('cust.eraseTitle')}</h2>
            <p data-testid="erase-confirm">{t('cust.eraseConfirm', { name: customerLabel(customer) })}</p>
            {eraseError && (
              <p className="error" role="alert">
                {eraseError}
              </p>
            )}
            <div className="row">
              <button type="button" className="danger" onClick={() => void erase(customer)}>
                {t('cust.eraseNow')}
              </button>
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>
                {t('common.cancel')}
              </button>
            </div>
          </div>
        </div>
      )}
    </section>
  );
}
