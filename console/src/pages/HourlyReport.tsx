// The report's time series: the campaign's figures hour by hour (GET /campaigns/:id/stats/hourly,
// read from the statistics counters, never the records), drawn by the lazily loaded HourlyChart,
// with the API's hours as a table beneath.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { useI18n } from '../i18n';
import { api } from '../api/client';
import type { HourlyStats } from '../api/types';
import { formatCount } from '../format';
import { take } from '../prefetch';
import { lazyComponent } from '../lazyComponent';
import { HOURLY_METRICS, hourLabel, hourlySeries, type HourlyMetric } from '../hourly';

/** The chart's code (ECharts), loaded with the first report; the campaign page starts it early. */
const chart = lazyComponent(() => import('./HourlyChart'));
const HourlyChart = chart.Lazy;
export const loadHourlyChart = chart.preload;

export function HourlyReport({ campaignId }: { campaignId: string }) {
  const { t, lang } = useI18n();
  const [stats, setStats] = useState<HourlyStats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    take(`hourly:${campaignId}`, () => api.hourlyStats(campaignId))
      .then((s) => {
        setStats(s);
        setError(null);
      })
      .catch((e: Error) => setError(e.message));
  }, [campaignId]);
  useEffect(load, [load]);

  const series = useMemo(() => hourlySeries(stats?.hours ?? []), [stats]);
  const labels = useMemo(() => series.hours.map((at) => hourLabel(at)), [series]);
  const names = useMemo(
    () =>
      Object.fromEntries(HOURLY_METRICS.map((m) => [m, t(`report.${m}`)])) as Record<HourlyMetric, string>,
    [t],
  );

  return (
    <div className="hourly" data-testid="hourly">
      <div className="row between">
        <h3>{t('report.hourly.title')}</h3>
        <button type="button" className="secondary small" onClick={load}>
          {t('report.hourly.refresh')}
        </button>
      </div>
      <p className="muted">{t('report.hourly.hint')}</p>
      {error && <p className="error">{t('common.error', { message: error })}</p>}
      {stats && stats.hours.length === 0 && <p className="muted">{t('report.hourly.empty')}</p>}
      {stats && stats.hours.length > 0 && (
        <>
          <HourlyChart
            series={series}
            labels={labels}
            names={names}
            fallback={<div className="chart hourly-chart" />}
          />
          <details className="hourly-table">
            <summary>{t('report.hourly.table', { count: stats.hours.length })}</summary>
            <table className="grid" data-testid="hourly-table">
              <thead>
                <tr>
                  <th>{t('report.hourly.hour')}</th>
                  <th className="num">{t('report.sent')}</th>
                  <th className="num">{t('report.hourly.sendFailed')}</th>
                  <th className="num">{t('report.delivered')}</th>
                  <th className="num">{t('report.hourly.deliveryFailed')}</th>
                  <th className="num">{t('report.opened')}</th>
                  <th className="num">{t('report.clicked')}</th>
                  <th className="num">{t('report.converted')}</th>
                  <th className="num">{t('report.hourly.unsubscribed')}</th>
                </tr>
              </thead>
              <tbody>
                {stats.hours.map((h) => (
                  <tr key={h.hour} data-hour={h.hour}>
                    <td>{hourLabel(Date.parse(h.hour))}</td>
                    {(
                      [
                        'sent',
                        'send_failed',
                        'delivered',
                        'delivery_failed',
                        'opened',
                        'clicked',
                        'converted',
                        'unsubscribed',
                      ] as const
                    ).map((k) => (
                      <td key={k} className="num" data-field={k}>
                        {formatCount(h[k], lang)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </div>
  );
}
