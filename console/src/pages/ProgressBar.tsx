import { useI18n } from '../i18n';
import type { Progress } from '../api/types';
import { clampPercent, formatCount, formatEta, formatRate } from '../format';
import { isFinal } from '../progress';

export function ProgressBar({ progress, lost }: { progress: Progress | null; lost: boolean }) {
  const { t, lang } = useI18n();
  if (!progress) return <p>{t('common.loading')}</p>;
  const percent = clampPercent(progress.percent);
  const eta = formatEta(progress.eta_seconds, lang);
  const done = isFinal(progress.status);
  return (
    <div className="progress" data-testid="progress" data-status={progress.status}>
      <div
        className="bar"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(percent)}
      >
        <div className={`fill ${progress.status}`} style={{ width: `${percent}%` }} />
        <span className="percent" data-testid="progress-percent">
          {percent.toFixed(percent === 100 ? 0 : 1)}%
        </span>
      </div>
      <p className="muted">
        {t('progress.counts', {
          planned: formatCount(progress.planned, lang),
          published: formatCount(progress.published, lang),
          sent: formatCount(progress.sent, lang),
          failed: formatCount(progress.failed, lang),
          remaining: formatCount(progress.remaining, lang),
        })}
      </p>
      <p>
        {done ? (
          <strong>{t(`status.${progress.status}` as 'status.completed')}</strong>
        ) : (
          <>
            {t('progress.rate', { rate: formatRate(progress.rate_per_second, lang) })} ·{' '}
            {eta ? t('progress.eta', { eta }) : t('progress.etaUnknown')}
          </>
        )}
      </p>
      {lost && <p className="error">{t('progress.connectionLost')}</p>}
    </div>
  );
}
