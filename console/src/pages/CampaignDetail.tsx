import { useCallback, useEffect, useMemo, useState } from 'react';
import { useI18n, type Key } from '../i18n';
import { api } from '../api/client';
import { costEstimate, samplesOf, skippedByReason } from '../api/types';
import type { Campaign, CampaignStats, Channel, Execution } from '../api/types';
import { navigate } from '../router';
import { formatCount, formatRatio } from '../format';
import { useProgress } from '../progress';
import { funnel } from '../report';
import { editable } from '../campaignForm';
import { ProgressBar } from './ProgressBar';
import { prefetch, take } from '../prefetch';
import { lazyComponent } from '../lazyComponent';
import { HourlyReport, loadHourlyChart } from './HourlyReport';
import { RecordsBrowser } from './RecordsBrowser';

const { Lazy: FunnelChart, preload: loadFunnelChart } = lazyComponent(() => import('./FunnelChart'));

/** The report's requests and chart code, started while the campaign itself loads. */
function prefetchReport(id: string) {
  prefetch(`stats:${id}`, () => api.stats(id));
  prefetch(`executions:${id}`, () => api.listExecutions(id));
  prefetch(`hourly:${id}`, () => api.hourlyStats(id));
  void loadFunnelChart().catch(() => {});
  void loadHourlyChart().catch(() => {});
}

export function CampaignDetail({ id }: { id: string }) {
  const { t, lang } = useI18n();
  const [campaign, setCampaign] = useState<Campaign | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dryRun, setDryRun] = useState<Execution | null>(null);
  const [dryRunning, setDryRunning] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [sending, setSending] = useState(false);
  const [sendId, setSendId] = useState<string | null>(null);
  const [reportKey, setReportKey] = useState(0);
  const { progress, lost } = useProgress(sendId);

  useEffect(() => prefetchReport(id), [id]);
  const load = useCallback(() => {
    api
      .getCampaign(id)
      .then(setCampaign)
      .catch((e: Error) => setError(e.message));
  }, [id]);
  useEffect(load, [load]);

  // When the send finishes, the campaign's status and the report change.
  const finished = progress?.status === 'completed' || progress?.status === 'failed';
  useEffect(() => {
    if (finished) {
      load();
      setReportKey((k) => k + 1);
    }
  }, [finished, load]);

  async function runDryRun() {
    setDryRunning(true);
    setError(null);
    try {
      const { execution_id } = await api.trigger(id, 'simulation');
      // A simulation finishes quickly; its figures are final once it is.
      let execution = await api.getExecution(execution_id);
      for (let i = 0; i < 60 && execution.status !== 'completed' && execution.status !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 500));
        execution = await api.getExecution(execution_id);
      }
      setDryRun(execution);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setDryRunning(false);
    }
  }

  async function send() {
    setSending(true);
    setError(null);
    try {
      const { execution_id } = await api.trigger(id, 'actual');
      setSendId(execution_id);
      setConfirming(false);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSending(false);
    }
  }

  async function archive() {
    if (!window.confirm(t('detail.archiveConfirm'))) return;
    try {
      setCampaign(await api.archiveCampaign(id));
    } catch (e) {
      setError((e as Error).message);
    }
  }

  if (!campaign) {
    return error ? <p className="error">{t('common.error', { message: error })}</p> : <p>{t('common.loading')}</p>;
  }
  const sendable = ['draft', 'scheduled', 'completed'].includes(campaign.status) && !sendId;
  return (
    <section>
      <div className="row between">
        <h1 data-testid="campaign-name">{campaign.name}</h1>
        <div className="row">
          <span className={`badge ${campaign.status}`} data-testid="campaign-status">
            {t(`status.${campaign.status}` as Key)}
          </span>
          {editable(campaign) && (
            <button type="button" className="secondary" onClick={() => navigate(`/campaigns/${id}/edit`)}>
              {t('cf.edit')}
            </button>
          )}
          {campaign.status !== 'active' && campaign.status !== 'archived' && (
            <button type="button" className="secondary" onClick={archive}>
              {t('detail.archive')}
            </button>
          )}
          <button type="button" className="secondary" onClick={() => navigate('/')}>
            {t('common.back')}
          </button>
        </div>
      </div>
      {error && (
        <p className="error" role="alert">
          {t('common.error', { message: error })}
        </p>
      )}
      {campaign.status === 'archived' && (
        <p className="card muted" data-testid="archived-note">
          {t('cf.archived')}
        </p>
      )}
      <div className="card">
        <h2>{t('detail.overview')}</h2>
        <dl className="facts">
          <dt>{t('campaigns.col.type')}</dt>
          <dd>{t(`channel.${campaign.type}` as Key)}</dd>
          <dt>{t('detail.tags')}</dt>
          <dd>{campaign.target_tags.join(', ') || t('common.none')}</dd>
          {campaign.target_segment_id && (
            <>
              <dt>{t('detail.segment')}</dt>
              <dd>
                <code>{campaign.target_segment_id}</code>
              </dd>
            </>
          )}
          <dt>{t('detail.content')}</dt>
          <dd className="content">
            {campaign.content ||
              (campaign.variants.length > 0
                ? `${t('cf.content.variants')}: ${campaign.variants.map((v) => `${v.key} ${v.weight}%`).join(' · ')}`
                : campaign.content_template_id
                  ? `${t('cf.content.template')}: ${campaign.content_template_id}`
                  : t('common.none'))}
          </dd>
          {(campaign.start_time || campaign.end_time) && (
            <>
              <dt>{t('detail.schedule')}</dt>
              <dd>
                {[campaign.start_time, campaign.end_time]
                  .map((s) => (s ? new Date(s).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US') : '…'))
                  .join(' → ')}
              </dd>
            </>
          )}
        </dl>
      </div>

      {campaign.status !== 'archived' && (
        <div className="card" data-testid="dry-run">
          <div className="row between">
            <h2>{t('dryRun.title')}</h2>
            <div className="row">
              <button type="button" className="secondary" onClick={runDryRun} disabled={dryRunning}>
                {dryRunning ? t('dryRun.running') : t('dryRun.run')}
              </button>
              {sendable && (
                <button
                  type="button"
                  onClick={() => setConfirming(true)}
                  disabled={!dryRun}
                  title={dryRun ? undefined : t('dryRun.required')}
                >
                  {t('send.button')}
                </button>
              )}
            </div>
          </div>
          {dryRun && <DryRunResult execution={dryRun} channel={campaign.type} />}
          {!dryRun && sendable && <p className="muted">{t('dryRun.required')}</p>}
        </div>
      )}

      {confirming && dryRun && (
        <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
          <div className="card">
            <h2 id="confirm-title">{t('send.confirmTitle')}</h2>
            <p data-testid="confirm-text">
              {t('send.confirmText', { count: formatCount(dryRun.planned, lang) })}
            </p>
            <div className="row">
              <button type="button" onClick={send} disabled={sending} data-testid="confirm-send">
                {sending ? t('send.sending') : t('send.confirm', { count: formatCount(dryRun.planned, lang) })}
              </button>
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>
                {t('common.cancel')}
              </button>
            </div>
          </div>
        </div>
      )}

      {sendId && (
        <div className="card">
          <h2>{t('progress.title')}</h2>
          <ProgressBar progress={progress} lost={lost} />
        </div>
      )}

      <Report key={reportKey} campaignId={id} />
    </section>
  );
}

function DryRunResult({ execution, channel }: { execution: Execution; channel: Channel }) {
  const { t, lang } = useI18n();
  const skipped = skippedByReason(execution);
  const cost = costEstimate(execution);
  return (
    <div className="dry-run">
      <p className="big">
        {t('dryRun.audience')}: <strong data-testid="dry-run-audience">{formatCount(execution.planned, lang)}</strong>
      </p>
      <h3>{t('dryRun.skipped')}</h3>
      {skipped.length === 0 ? (
        <p className="muted">{t('dryRun.noneSkipped')}</p>
      ) : (
        <ul>
          {skipped.map(([reason, n]) => (
            <li key={reason}>
              <code>{reason}</code>: {formatCount(n, lang)}
            </li>
          ))}
        </ul>
      )}
      {cost && (
        <p>
          {t('dryRun.cost')}: {cost.total} {cost.currency}
        </p>
      )}
      <h3>{t('dryRun.samples')}</h3>
      <ul className="samples" data-testid="samples">
        {samplesOf(execution).map((s) => (
          <li key={s.customer_id + (s.variant ?? '')}>
            <span className="muted">
              {t('dryRun.to')} {s.to}
              {s.variant ? ` · ${s.variant}` : ''}
            </span>
            {/* SMS has no subject: its "subject" is only the campaign's name */}
            {s.subject && channel !== 'sms' && <strong> {s.subject}</strong>}
            <div className={s.error ? 'error' : 'content'}>{s.error ?? s.body}</div>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Report({ campaignId }: { campaignId: string }) {
  const { t, lang } = useI18n();
  const [stats, setStats] = useState<CampaignStats | null>(null);
  const [executions, setExecutions] = useState<Execution[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all([
      take(`stats:${campaignId}`, () => api.stats(campaignId)),
      take(`executions:${campaignId}`, () => api.listExecutions(campaignId)),
    ])
      .then(([s, e]) => {
        setStats(s);
        setExecutions(e.executions);
      })
      .catch((e: Error) => setError(e.message));
  }, [campaignId]);
  const stages = useMemo(() => (stats ? funnel(stats.totals) : []), [stats]);
  const chartStages = useMemo(
    () => stages.map((s) => ({ name: t(`report.${s.stage}` as Key), value: s.count })),
    [stages, t],
  );
  if (error) return <p className="error">{t('common.error', { message: error })}</p>;
  if (!stats || !executions) return <p>{t('common.loading')}</p>;
  return (
    <div className="card" data-testid="report">
      <h2>{t('report.title')}</h2>
      <div className="report-grid">
        <table className="grid" data-testid="funnel">
          <thead>
            <tr>
              <th>{t('report.stage')}</th>
              <th className="num">{t('report.count')}</th>
              <th className="num">{t('report.rate')}</th>
            </tr>
          </thead>
          <tbody>
            {stages.map((s) => (
              <tr key={s.stage} data-stage={s.stage}>
                <td>{t(`report.${s.stage}` as Key)}</td>
                <td className="num" data-testid={`funnel-${s.stage}`}>
                  {formatCount(s.count, lang)}
                </td>
                <td className="num">{formatRatio(s.rate)}</td>
              </tr>
            ))}
            <tr>
              <td>{t('report.failed')}</td>
              <td className="num" data-testid="funnel-failed">
                {formatCount(stats.totals.failed, lang)}
              </td>
              <td />
            </tr>
            <tr>
              <td>{t('report.cost')}</td>
              <td className="num">
                {stats.totals.cost} {stats.currency}
              </td>
              <td />
            </tr>
          </tbody>
        </table>
        <FunnelChart stages={chartStages} fallback={<div className="chart" />} />
      </div>
      <HourlyReport campaignId={campaignId} />
      {stats.by_variant.length > 0 && (
        <>
          <h3>{t('report.variants')}</h3>
          <table className="grid">
            <thead>
              <tr>
                <th>{t('report.variant')}</th>
                <th className="num">{t('report.sent')}</th>
                <th className="num">{t('report.delivered')}</th>
                <th className="num">{t('report.opened')}</th>
                <th className="num">{t('report.clicked')}</th>
                <th className="num">{t('report.converted')}</th>
              </tr>
            </thead>
            <tbody>
              {stats.by_variant.map((v) => (
                <tr key={v.variant}>
                  <td>{v.variant}</td>
                  <td className="num">{formatCount(v.sent, lang)}</td>
                  <td className="num">
                    {formatCount(v.delivered, lang)} ({formatRatio(v.rates.delivery)})
                  </td>
                  <td className="num">
                    {formatCount(v.opened, lang)} ({formatRatio(v.rates.open)})
                  </td>
                  <td className="num">
                    {formatCount(v.clicked, lang)} ({formatRatio(v.rates.click)})
                  </td>
                  <td className="num">
                    {formatCount(v.converted, lang)} ({formatRatio(v.rates.conversion)})
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h3>{t('report.executions')}</h3>
      {executions.length === 0 ? (
        <p className="muted">{t('report.noExecutions')}</p>
      ) : (
        <table className="grid" data-testid="executions">
          <thead>
            <tr>
              <th>{t('report.execCreated')}</th>
              <th>{t('report.execType')}</th>
              <th>{t('report.execStatus')}</th>
              <th className="num">{t('report.planned')}</th>
              <th className="num">{t('report.sent')}</th>
              <th className="num">{t('report.failed')}</th>
            </tr>
          </thead>
          <tbody>
            {executions.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.created_at).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US')}</td>
                <td>{t(`exec.${e.execution_type}` as Key)}</td>
                <td>{t(`status.${e.status}` as Key)}</td>
                <td className="num">{formatCount(e.planned, lang)}</td>
                <td className="num">{formatCount(e.sent, lang)}</td>
                <td className="num">{formatCount(e.failed, lang)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <RecordsBrowser campaignId={campaignId} />
    </div>
  );
}
