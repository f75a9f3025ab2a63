// The report's time series as an ECharts chart: sends, deliveries, opens and clicks per hour.
// ECharts is imported by module (core + bar and line charts + grid, tooltip and legend + the
// canvas renderer) and this module is loaded lazily with the report. The figures ECharts holds
// after drawing are written to `data-series` (and the hours to `data-hours`), so a test compares what is drawn with the API.
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { chartKind, HOURLY_METRICS, type HourlyMetric, type HourlySeries } from '../hourly';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

const COLORS: Record<HourlyMetric, string> = {
  sent: '#1a56b8',
  delivered: '#4a90ee',
  opened: '#1a7f37',
  clicked: '#e8912d',
};
// The page's own font stack, so Chinese legends and labels render like the rest of the page.
const FONT = 'system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';

export default function HourlyChart({
  series,
  labels,
  names,
}: {
  series: HourlySeries;
  /** One label per hour of `series.hours`. */
  labels: string[];
  names: Record<HourlyMetric, string>;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const chart = echarts.init(el);
    const kind = chartKind(series.hours.length);
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: 'axis' },
      legend: { top: 0, data: HOURLY_METRICS.map((m) => names[m]) },
      grid: { left: 48, right: 16, top: 36, bottom: 28, containLabel: false },
      xAxis: { type: 'category', data: labels, axisTick: { alignWithLabel: true } },
      yAxis: { type: 'value', minInterval: 1 },
      series: HOURLY_METRICS.map((m) => ({
        id: m,
        name: names[m],
        type: kind,
        data: series.values[m],
        itemStyle: { color: COLORS[m] },
        ...(kind === 'bar' ? { barMaxWidth: 28 } : { showSymbol: series.hours.length <= 96 }),
      })),
    });
    const drawn = chart.getOption() as { series?: { id?: string; data?: unknown }[] };
    el.dataset.series = JSON.stringify(
      Object.fromEntries((drawn.series ?? []).map((s) => [String(s.id), s.data])),
    );
    el.dataset.hours = JSON.stringify(series.hours.map((at) => new Date(at).toISOString()));
    const resize = () => chart.resize();
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      chart.dispose();
    };
  }, [series, labels, names]);
  return <div ref={ref} className="chart hourly-chart" data-testid="hourly-chart" />;
}
