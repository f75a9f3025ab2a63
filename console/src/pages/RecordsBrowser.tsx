// The report's records browser: a campaign's records (one message to one customer each) filtered
// by status, channel and customer, paged by cursor. Nothing is counted, so a campaign of a
// million records opens and pages as fast as a small one.
import { useEffect, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, ApiFailure, type RecordFilter } from '../api/client';
import type { Channel, MessageRecord, RecordStatus } from '../api/types';
import { back, current, FIRST_PAGE, forward, pageNumber, type CursorTrail } from '../records';
import { ChannelOptions } from './ChannelOptions';

// Typed by the API's enum: a status the API does not know fails to compile.
const STATUSES: RecordStatus[] = ['pending', 'sending', 'sent', 'delivered', 'failed', 'opened', 'clicked'];
const PAGE_SIZE = 50;
const TIMES = [
  ['not_before', 'records.time.notBefore'],
  ['sent_at', 'records.time.sent'],
  ['delivered_at', 'records.time.delivered'],
  ['opened_at', 'records.time.opened'],
  ['clicked_at', 'records.time.clicked'],
] as const satisfies readonly (readonly [keyof MessageRecord, Key])[];

interface Failure {
  field: string | null;
  message: string;
}

export function RecordsBrowser({ campaignId }: { campaignId: string }) {
  const { t, lang } = useI18n();
  const [draft, setDraft] = useState<Required<RecordFilter>>({ status: '', channel: '', customer_id: '' });
  const [filter, setFilter] = useState<RecordFilter>({});
  const [trail, setTrail] = useState<CursorTrail>(FIRST_PAGE);
  const [page, setPage] = useState<{ records: MessageRecord[]; next: string | null } | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    let live = true;
    setLoading(true);
    api
      .listRecords(campaignId, filter, current(trail), PAGE_SIZE)
      .then((d) => {
        if (!live) return;
        setPage({ records: d.records, next: d.next ?? null });
        setFailure(null);
      })
      .catch((e: Error) => {
        if (!live) return;
        setPage(null);
        setFailure(
          e instanceof ApiFailure ? { field: e.error.field ?? null, message: e.error.message } : { field: null, message: e.message },
        );
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [campaignId, filter, trail]);

  function apply(next: Required<RecordFilter>, e?: FormEvent) {
    e?.preventDefault();
    setDraft(next);
    setFilter({ ...next });
    setTrail(FIRST_PAGE);
  }

  const fieldError = (field: string) =>
    failure?.field === field ? (
      <span className="error" role="alert">
        {failure.message}
      </span>
    ) : null;
  const time = (iso: string) =>
    new Date(iso).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US', {
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });

  return (
    <div className="records" data-testid="records-browser">
      <h3>{t('records.title')}</h3>
      <p className="muted">{t('records.hint')}</p>
      <form className="filters row" onSubmit={(e) => apply(draft, e)}>
        <label>
          {t('records.filter.status')}
          <select
            name="record_status"
            value={draft.status}
            onChange={(e) => setDraft({ ...draft, status: e.target.value as RecordStatus | '' })}
          >
            <option value="">{t('common.all')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`records.status.${s}`)}
              </option>
            ))}
          </select>
          {fieldError('status')}
        </label>
        <label>
          {t('records.filter.channel')}
          <select
            name="record_channel"
            value={draft.channel}
            onChange={(e) => setDraft({ ...draft, channel: e.target.value as Channel | '' })}
          >
            <ChannelOptions all />
          </select>
          {fieldError('channel')}
        </label>
        <label className="customer-filter">
          {t('records.filter.customer')}
          <input
            name="record_customer"
            value={draft.customer_id}
            spellCheck={false}
            onChange={(e) => setDraft({ ...draft, customer_id: e.target.value })}
          />
          {fieldError('customer_id')}
        </label>
        <button type="submit">{t('records.filter.apply')}</button>
        <button type="button" className="secondary" onClick={() => apply({ status: '', channel: '', customer_id: '' })}>
          {t('records.filter.clear')}
        </button>
      </form>
      {failure && !['status', 'channel', 'customer_id'].includes(failure.field ?? '') && (
        <p className="error" role="alert">
          {t('common.error', { message: failure.message })}
        </p>
      )}
      {page && page.records.length === 0 && <p className="muted">{t('records.empty')}</p>}
      {page && page.records.length > 0 && (
        <div className="table-scroll">
          <table className="grid records-table" data-testid="records" aria-busy={loading}>
            <thead>
              <tr>
                <th>{t('records.col.customer')}</th>
                <th>{t('records.col.status')}</th>
                <th>{t('records.col.variant')}</th>
                <th>{t('records.col.times')}</th>
                <th>{t('records.col.error')}</th>
              </tr>
            </thead>
            <tbody>
              {page.records.map((r) => (
                <tr key={r.id} data-record-id={r.id} data-status={r.status}>
                  <td>
                    <button
                      type="button"
                      className="link mono"
                      title={t('records.onlyCustomer')}
                      onClick={() => apply({ ...draft, customer_id: r.customer_id })}
                    >
                      {r.customer_id}
                    </button>
                  </td>
                  <td>
                    <span className={`badge record-${r.status}`}>{t(`records.status.${r.status}`)}</span>
                  </td>
                  <td>{r.variant ?? '—'}</td>
                  <td>
                    <div className="times">
                      {TIMES.filter(([k]) => r[k]).map(([k, label]) => (
                        <span key={k}>
                          <span className="muted">{t(label)}</span> {time(r[k] as string)}
                        </span>
                      ))}
                    </div>
                  </td>
                  <td className="error">{r.error_message ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="row pager">
        <button
          type="button"
          className="secondary"
          data-testid="records-previous"
          disabled={loading || pageNumber(trail) === 1}
          onClick={() => setTrail(back(trail))}
        >
          {t('common.previous')}
        </button>
        <span data-testid="records-page">{t('records.page', { page: pageNumber(trail) })}</span>
        <button
          type="button"
          className="secondary"
          data-testid="records-next"
          disabled={loading || !page?.next}
          onClick={() => page?.next && setTrail(forward(trail, page.next))}
        >
          {t('common.next')}
        </button>
      </div>
    </div>
  );
}
