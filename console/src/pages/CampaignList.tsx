import { useEffect, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, type CampaignFilter } from '../api/client';
import type { Campaign, Pagination } from '../api/types';
import { navigate } from '../router';
import { ChannelOptions } from './ChannelOptions';
import { Link } from '../Link';
import { formatCount } from '../format';

import type { CampaignStatus, Channel } from '../api/types';

// Typed by the API's enums: a value the API does not know fails to compile.
const STATUSES: CampaignStatus[] = ['draft', 'scheduled', 'active', 'completed', 'archived'];
const PAGE_SIZE = 20;

export function CampaignList() {
  const { t, lang } = useI18n();
  const [filter, setFilter] = useState<CampaignFilter>({ page: 1, page_size: PAGE_SIZE });
  const [draft, setDraft] = useState<{ status: CampaignStatus | ''; type: Channel | ''; name: string }>({
    status: '',
    type: '',
    name: '',
  });
  const [data, setData] = useState<{ campaigns: Campaign[]; pagination: Pagination } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api
      .listCampaigns(filter)
      .then((d) => live && (setData(d), setError(null)))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [filter]);

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilter({ ...draft, page: 1, page_size: PAGE_SIZE });
  }

  const page = filter.page ?? 1;
  const total = data?.pagination.total ?? 0;
  return (
    <section>
      <div className="row between">
        <h1>{t('campaigns.title')}</h1>
        <button type="button" onClick={() => navigate('/campaigns/new')}>
          {t('campaigns.new')}
        </button>
      </div>
      <form className="filters row" onSubmit={apply}>
        <label>
          {t('campaigns.filter.status')}
          <select
            name="status"
            value={draft.status}
            onChange={(e) => setDraft({ ...draft, status: e.target.value as CampaignStatus | '' })}
          >
            <option value="">{t('common.all')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}` as Key)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('campaigns.filter.type')}
          <select
            name="type"
            value={draft.type}
            onChange={(e) => setDraft({ ...draft, type: e.target.value as Channel | '' })}
          >
            <ChannelOptions all />
          </select>
        </label>
        <label>
          {t('campaigns.filter.name')}
          <input
            name="name"
            value={draft.name}
            onChange={(e) => setDraft({ ...draft, name: e.target.value })}
          />
        </label>
        <button type="submit">{t('campaigns.filter.apply')}</button>
      </form>
      {error && <p className="error">{t('common.error', { message: error })}</p>}
      {!data && !error && <p>{t('common.loading')}</p>}
      {data && data.campaigns.length === 0 && <p className="muted">{t('campaigns.empty')}</p>}
      {data && data.campaigns.length > 0 && (
        <table className="grid" data-testid="campaign-table">
          <thead>
            <tr>
              <th>{t('campaigns.col.name')}</th>
              <th>{t('campaigns.col.type')}</th>
              <th>{t('campaigns.col.status')}</th>
              <th>{t('campaigns.col.tags')}</th>
              <th>{t('campaigns.col.created')}</th>
            </tr>
          </thead>
          <tbody>
            {data.campaigns.map((c) => (
              <tr key={c.id}>
                <td>
                  <Link to={`/campaigns/${c.id}`}>
                    {c.name}
                  </Link>
                </td>
                <td>{t(`channel.${c.type}` as Key)}</td>
                <td>
                  <span className={`badge ${c.status}`}>{t(`status.${c.status}` as Key)}</span>
                </td>
                <td>{c.target_tags.join(', ')}</td>
                <td>{new Date(c.created_at).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && total > PAGE_SIZE && (
        <div className="row pager">
          <button
            type="button"
            disabled={page <= 1}
            onClick={() => setFilter({ ...filter, page: page - 1 })}
          >
            {t('common.previous')}
          </button>
          <span>{t('common.pageOf', { page, total: formatCount(total, lang) })}</span>
          <button
            type="button"
            disabled={page * PAGE_SIZE >= total}
            onClick={() => setFilter({ ...filter, page: page + 1 })}
          >
            {t('common.next')}
          </button>
        </div>
      )}
    </section>
  );
}
