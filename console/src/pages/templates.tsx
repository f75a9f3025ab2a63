// The templates section: every path under /templates (see SECTIONS in src/App.tsx): the list by
// channel and name, `/templates/new` and `/templates/:id` (the editor, with preview).
import { useEffect, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, type TemplateFilter } from '../api/client';
import type { Channel, Template, Pagination } from '../api/types';
import { matchRoute, navigate } from '../router';
import { Link } from '../Link';
import { formatCount } from '../format';
import { ChannelOptions } from './ChannelOptions';
import { TemplateEditor } from './TemplateEditor';

export function TemplatesSection({ path }: { path: string }) {
  let params: Record<string, string> | null;
  if (matchRoute('/templates/new', path)) return <TemplateEditor key="new" />;
  if ((params = matchRoute('/templates/:id', path))) return <TemplateEditor key={params.id} id={params.id} />;
  return <TemplateList />;
}

function TemplateList() {
  const { t, lang } = useI18n();
  const [draft, setDraft] = useState<{ channel: Channel | ''; name: string }>({ channel: '', name: '' });
  const [filter, setFilter] = useState<TemplateFilter>({ page: 1 });
  const [data, setData] = useState<{ templates: Template[]; pagination: Pagination } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api
      .templatesPage(filter)
      .then((d) => live && (setData(d), setError(null)))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [filter]);

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilter({ ...draft, page: 1 });
  }

  const page = filter.page ?? 1;
  const total = data?.pagination.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / (data?.pagination.page_size ?? 20)));
  return (
    <section>
      <div className="row between">
        <h1>{t('templates.title')}</h1>
        <button type="button" onClick={() => navigate('/templates/new')}>
          {t('templates.new')}
        </button>
      </div>
      <form className="filters row" onSubmit={apply}>
        <label>
          {t('templates.filter.channel')}
          <select
            name="channel"
            value={draft.channel}
            onChange={(e) => setDraft({ ...draft, channel: e.target.value as Channel | '' })}
          >
            <ChannelOptions all />
          </select>
        </label>
        <label>
          {t('templates.filter.name')}
          <input name="name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
        </label>
        <button type="submit">{t('templates.filter.apply')}</button>
      </form>
      {error && <p className="error">{t('common.error', { message: error })}</p>}
      {data && data.templates.length === 0 && <p className="muted">{t('templates.empty')}</p>}
      {data && data.templates.length > 0 && (
        <table className="grid" data-testid="template-table">
          <thead>
            <tr>
              <th>{t('templates.col.name')}</th>
              <th>{t('templates.col.channel')}</th>
              <th>{t('templates.col.variables')}</th>
              <th>{t('templates.col.updated')}</th>
            </tr>
          </thead>
          <tbody>
            {data.templates.map((tpl) => (
              <tr key={tpl.id}>
                <td>
                  <Link to={`/templates/${tpl.id}`}>
                    {tpl.name}
                  </Link>
                </td>
                <td>{t(`channel.${tpl.channel}` as Key)}</td>
                <td className="mono">{tpl.variables.join(', ') || '—'}</td>
                <td>{new Date(tpl.updated_at).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && pages > 1 && (
        <div className="row pager">
          <button
            type="button"
            className="secondary"
            disabled={page <= 1}
            onClick={() => setFilter({ ...filter, page: page - 1 })}
          >
            {t('common.previous')}
          </button>
          <span>{t('common.pageOf', { page, total: formatCount(total, lang) })}</span>
          <button
            type="button"
            className="secondary"
            disabled={page >= pages}
            onClick={() => setFilter({ ...filter, page: page + 1 })}
          >
            {t('common.next')}
          </button>
        </div>
      )}
    </section>
  );
}
