// The journeys section: every path under /journeys (see SECTIONS in src/App.tsx). The list is
// here; a journey's page and the new-journey page (graph, editor) load with their first visit.
import { lazy, Suspense, useEffect, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api } from '../api/client';
import type { Journey, JourneyStatus, Pagination } from '../api/types';
import { matchRoute, navigate } from '../router';
import { Link } from '../Link';
import { formatCount } from '../format';

const JourneyPage = lazy(() => import('./JourneyPage'));

// Typed by the API's enum: a state the API does not know fails to compile.
export const JOURNEY_STATUSES: JourneyStatus[] = ['draft', 'active', 'paused', 'archived'];
const PAGE_SIZE = 20;

export function JourneysSection({ path }: { path: string }) {
  const { t } = useI18n();
  let params: Record<string, string> | null;
  let page;
  if (matchRoute('/journeys/new', path)) page = <JourneyPage />;
  else if ((params = matchRoute('/journeys/:id', path))) page = <JourneyPage key={params.id} id={params.id} />;
  else page = <JourneyList />;
  return (
    <div className="journeys">
      <Suspense fallback={<p>{t('common.loading')}</p>}>{page}</Suspense>
    </div>
  );
}

/** The entry of a journey in words (`事件 signup`, `手动加入`). */
export function entryText(entry: Journey['entry'], t: (k: Key, v?: Record<string, string>) => string): string {
  const e = entry as { kind?: string; event?: string };
  if (e.kind === 'event') return t('journeys.entry.event', { event: e.event ?? '' });
  if (e.kind === 'segment' || e.kind === 'manual') return t(`journeys.entry.${e.kind}` as Key);
  return t('journeys.entry.unknown');
}

function JourneyList() {
  const { t, lang } = useI18n();
  const [status, setStatus] = useState<JourneyStatus | ''>('');
  const [filter, setFilter] = useState<{ status: JourneyStatus | ''; page: number }>({ status: '', page: 1 });
  const [data, setData] = useState<{ journeys: Journey[]; pagination: Pagination } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api
      .listJourneys(filter.status, filter.page, PAGE_SIZE)
      .then((d) => live && (setData(d), setError(null)))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [filter]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setFilter({ status, page: 1 });
  };
  const total = data?.pagination.total ?? 0;
  return (
    <section>
      <div className="row between">
        <h1>{t('journeys.title')}</h1>
        <button type="button" onClick={() => navigate('/journeys/new')}>
          {t('journeys.new')}
        </button>
      </div>
      <form className="filters row" onSubmit={apply}>
        <label>
          {t('journeys.filter.status')}
          <select name="status" value={status} onChange={(e) => setStatus(e.target.value as JourneyStatus | '')}>
            <option value="">{t('common.all')}</option>
            {JOURNEY_STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}` as Key)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">{t('journeys.filter.apply')}</button>
      </form>
      {error && <p className="error">{t('common.error', { message: error })}</p>}
      {!data && !error && <p>{t('common.loading')}</p>}
      {data && data.journeys.length === 0 && <p className="muted">{t('journeys.empty')}</p>}
      {data && data.journeys.length > 0 && (
        <table className="grid" data-testid="journey-table">
          <thead>
            <tr>
              <th>{t('journeys.col.name')}</th>
              <th>{t('journeys.col.status')}</th>
              <th className="num">{t('journeys.col.version')}</th>
              <th>{t('journeys.col.entry')}</th>
              <th className="num">{t('journeys.col.steps')}</th>
              <th>{t('journeys.col.updated')}</th>
            </tr>
          </thead>
          <tbody>
            {data.journeys.map((j) => (
              <tr key={j.id}>
                <td>
                  <Link to={`/journeys/${j.id}`}>{j.name}</Link>
                </td>
                <td>
                  <span className={`badge ${j.status}`}>{t(`status.${j.status}` as Key)}</span>
                </td>
                <td className="num">{j.version}</td>
                <td>{entryText(j.entry, t)}</td>
                <td className="num">{Object.keys(j.steps).length}</td>
                <td>{new Date(j.updated_at).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && total > PAGE_SIZE && (
        <div className="row pager">
          <button type="button" disabled={filter.page <= 1} onClick={() => setFilter({ ...filter, page: filter.page - 1 })}>
            {t('common.previous')}
          </button>
          <span>{t('common.pageOf', { page: filter.page, total: formatCount(total, lang) })}</span>
          <button
            type="button"
            disabled={filter.page * PAGE_SIZE >= total}
            onClick={() => setFilter({ ...filter, page: filter.page + 1 })}
          >
            {t('common.next')}
          </button>
        </div>
      )}
    </section>
  );
}
