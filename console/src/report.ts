// The report's funnel: planned → sent → delivered → opened → clicked → converted, each with the
// rate the API computes (sent of attempted, delivered of sent, opened/clicked/converted of
// delivered), straight from the statistics counters.
import type { Figures } from './api/types';

export type Stage = 'planned' | 'sent' | 'delivered' | 'opened' | 'clicked' | 'converted';

export interface FunnelStage {
  stage: Stage;
  count: number;
  rate: number | null;
}

export function funnel(f: Figures): FunnelStage[] {
  return [
    { stage: 'planned', count: f.planned, rate: null },
    { stage: 'sent', count: f.sent, rate: f.rates.send_success ?? null },
    { stage: 'delivered', count: f.delivered, rate: f.rates.delivery ?? null },
    { stage: 'opened', count: f.opened, rate: f.rates.open ?? null },
    { stage: 'clicked', count: f.clicked, rate: f.rates.click ?? null },
    { stage: 'converted', count: f.converted, rate: f.rates.conversion ?? null },
  ];
}
