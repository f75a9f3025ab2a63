// The funnel as an ECharts chart. ECharts is imported modularly (core + the funnel chart + the
// tooltip + the canvas renderer) and this module is loaded lazily, so it is not in the initial JS.
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { FunnelChart as Funnel } from 'echarts/charts';
import { TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([Funnel, TooltipComponent, CanvasRenderer]);

export default function FunnelChart({ stages }: { stages: { name: string; value: number }[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = echarts.init(ref.current);
    chart.setOption({
      animation: false,
      color: ['#0b3d91', '#1a56b8', '#1a73e8', '#4a90ee', '#7fb0f3', '#b3d1f8'],
      tooltip: { trigger: 'item', formatter: '{b}: {c}' },
      series: [
        {
          type: 'funnel',
          sort: 'none',
          minSize: '8%',
          left: '5%',
          width: '60%',
          label: { show: true, position: 'right', color: '#1f2328', formatter: '{b}  {c}' },
          labelLine: { show: true },
          gap: 2,
          data: stages,
        },
      ],
    });
    const resize = () => chart.resize();
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      chart.dispose();
    };
  }, [stages]);
  return <div ref={ref} className="chart" data-testid="funnel-chart" />;
}
