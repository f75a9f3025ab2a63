// The console's API client: every call carries the bearer token; a 401 signs the user out; an
// error answer becomes an ApiFailure holding the API's {code, message, field}.
import { clearToken, getToken } from '../auth';
import type {
  ApiError, Campaign, CampaignStats, Execution, NewCampaign, Pagination, Template,
} from './types';

export const API_BASE = '/api/marketing';

export class ApiFailure extends Error {
  constructor(
    public status: number,
    public error: ApiError,
  ) {
    super(error.field ? `${error.field}: ${error.message}` : error.message);
  }
}

/** Called when the API answers 401: the app goes back to sign-in. */
let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

async function call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const bearer = token ?? getToken() ?? '';
  const response = await fetch(API_BASE + path, {
    method,
    headers: {
      Authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && token === undefined) {
      clearToken();
      onUnauthenticated();
    }
    const error = (json as { error?: ApiError } | null)?.error ?? {
      code: 'http',
      message: `HTTP ${response.status}`,
      field: null,
    };
    throw new ApiFailure(response.status, error);
  }
  return json as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface CampaignFilter {
  status?: string;
  type?: string;
  name?: string;
  page?: number;
  page_size?: number;
}

export const api = {
  /** Checks a token without storing it (sign-in). */
  checkToken: (token: string) =>
    call<{ campaigns: Campaign[] }>('GET', '/campaigns?page_size=1', undefined, token),
  listCampaigns: (filter: CampaignFilter) =>
    call<{ campaigns: Campaign[]; pagination: Pagination }>('GET', `/campaigns${query({ ...filter })}`),
  getCampaign: (id: string) => call<Campaign>('GET', `/campaigns/${id}`),
  createCampaign: (body: NewCampaign) => call<Campaign>('POST', '/campaigns', body),
  archiveCampaign: (id: string) => call<Campaign>('POST', `/campaigns/${id}/archive`),
  trigger: (id: string, execution_type: 'simulation' | 'actual') =>
    call<{ status: string; message: string; execution_id: string }>(
      'POST',
      `/campaigns/${id}/trigger`,
      { execution_type },
    ),
  getExecution: (id: string) => call<Execution>('GET', `/executions/${id}`),
  listExecutions: (campaignId: string) =>
    call<{ executions: Execution[]; pagination: Pagination }>(
      'GET',
      `/campaigns/${campaignId}/executions?page_size=20`,
    ),
  stats: (campaignId: string) => call<CampaignStats>('GET', `/campaigns/${campaignId}/stats`),
  listTemplates: () => call<{ templates: Template[] }>('GET', '/templates?page_size=100'),
  eventsUrl: (executionId: string) => `${API_BASE}/executions/${executionId}/events`,
};
