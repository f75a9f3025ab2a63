// Formatting of progress figures: percent, rate, time left, rates of the report.
import { translate, type Lang } from './i18n';

/** A percentage for a progress bar: finite, between 0 and 100. */
export function clampPercent(percent: number | null | undefined): number {
  if (percent === null || percent === undefined || !Number.isFinite(percent)) return 0;
  return Math.min(100, Math.max(0, percent));
}

/** Time left in words (`1 分 5 秒`, `1 min 5 s`); null when unknown. */
export function formatEta(seconds: number | null | undefined, lang: Lang): string | null {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return null;
  }
  const total = Math.ceil(seconds);
  if (total < 60) return translate(lang, 'eta.seconds', { s: total });
  if (total < 3600) {
    return translate(lang, 'eta.minutes', { m: Math.floor(total / 60), s: total % 60 });
  }
  return translate(lang, 'eta.hours', {
    h: Math.floor(total / 3600),
    m: Math.floor((total % 3600) / 60),
  });
}

/** Messages per second with at most one decimal (`12.5`, `1,234`). */
export function formatRate(rate: number | null | undefined, lang: Lang): string {
  const r = rate !== null && rate !== undefined && Number.isFinite(rate) ? rate : 0;
  return new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US', {
    maximumFractionDigits: r >= 100 ? 0 : 1,
  }).format(r);
}

/** A count with grouping (`1,000,000`). */
export function formatCount(n: number, lang: Lang): string {
  return new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US').format(n);
}

/** A ratio (0..1) as a percentage with one decimal; `—` when there is none (null). */
export function formatRatio(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '—';
  return `${(ratio * 100).toFixed(1)}%`;
}
