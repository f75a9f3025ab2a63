// Shapes of the REST API the console uses (campaign-svc/src/rest). Replaced by the types
// generated from openapi.json (src/api/schema.d.ts) once the document is available.
export type Channel = 'sms' | 'email' | 'push_notification' | 'wechat';
export type CampaignStatus = 'draft' | 'scheduled' | 'active' | 'paused' | 'completed' | 'archived';
export type ExecutionStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface Pagination {
  total: number;
  page: number;
  page_size: number;
}

export interface Campaign {
  id: string;
  name: string;
  type: Channel;
  status: CampaignStatus;
  target_tags: string[];
  target_segment_id: string | null;
  content_template_id: string | null;
  content: string;
  start_time: string | null;
  end_time: string | null;
  created_at: string;
  updated_at: string;
}

export interface NewCampaign {
  name: string;
  type: Channel;
  target_tags?: string[];
  content?: string;
  content_template_id?: string | null;
  start_time?: string | null;
  end_time?: string | null;
}

export interface Sample {
  customer_id: string;
  variant?: string;
  to: string;
  subject: string;
  body: string;
  error?: string;
}

export interface Execution {
  id: string;
  campaign_id: string;
  execution_type: 'simulation' | 'actual';
  status: ExecutionStatus;
  planned: number;
  skipped: Record<string, number>;
  samples: Sample[];
  published: number;
  sent: number;
  failed: number;
  frozen: boolean;
  created_at: string;
  finished_at: string | null;
  remaining: number;
  percent: number;
  rate_per_second: number;
  eta_seconds: number | null;
  cost_estimate?: { total?: string; currency?: string } | null;
}

export interface Progress {
  execution_id: string;
  campaign_id: string;
  status: ExecutionStatus;
  planned: number;
  frozen: boolean;
  published: number;
  sent: number;
  failed: number;
  remaining: number;
  percent: number;
  rate_per_second: number;
  eta_seconds: number | null;
}

export interface Rates {
  send_success: number | null;
  delivery: number | null;
  open: number | null;
  click: number | null;
  click_to_open: number | null;
  conversion: number | null;
}

export interface Figures {
  execution_id?: string;
  variant?: string;
  planned: number;
  attempted: number;
  sent: number;
  failed: number;
  delivered: number;
  opened: number;
  clicked: number;
  converted: number;
  unsubscribed: number;
  cost: string;
  rates: Rates;
}

export interface CampaignStats {
  campaign_id: string;
  currency: string;
  totals: Figures;
  by_execution: Figures[];
  by_variant: Figures[];
}

export interface Template {
  id: string;
  name: string;
  channel: Channel;
}

export interface ApiError {
  code: string;
  message: string;
  field: string | null;
}
