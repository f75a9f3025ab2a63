// The console's API client, generated from the OpenAPI document: openapi-fetch over the
// `paths` of src/api/schema.d.ts. Every call carries the bearer token; a 401 signs the user out;
// an error answer becomes an ApiFailure holding the API's {code, message, field}.
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';
import { clearToken, getToken } from '../auth';
import type { ApiError, CampaignBody, CampaignStatus, Channel } from './types';

export const API_BASE = '/api/marketing';

export class ApiFailure extends Error {
  constructor(
    public status: number,
    public error: ApiError,
  ) {
    super(error.field ? `${error.field}: ${error.message}` : error.message);
  }
}

/** Called when the API answers 401 to a signed-in call: the app goes back to sign-in. */
let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

const auth: Middleware = {
  onRequest({ request }) {
    if (!request.headers.has('Authorization')) {
      request.headers.set('Authorization', `Bearer ${getToken() ?? ''}`);
    }
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && request.headers.get('X-Console-Check') !== 'token') {
      clearToken();
      onUnauthenticated();
    }
    return response;
  },
};

export const client = createClient<paths>({ baseUrl: window.location.origin });
client.use(auth);

/** The data of an answer, or an ApiFailure with the API's error body. */
function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data !== undefined && result.response.ok) return result.data;
  const body = result.error as { error?: ApiError } | undefined;
  throw new ApiFailure(
    result.response.status,
    body?.error ?? { code: 'http', message: `HTTP ${result.response.status}`, field: null },
  );
}

export interface CampaignFilter {
  status?: CampaignStatus | '';
  type?: Channel | '';
  name?: string;
  page?: number;
  page_size?: number;
}

const path = (id: string) => ({ params: { path: { id } } });

export const api = {
  /** Checks a token without storing it (sign-in); a 401 here does not sign anyone out. */
  checkToken: async (token: string) =>
    unwrap(
      await client.GET('/api/marketing/campaigns', {
        params: { query: { page_size: 1 } },
        headers: { Authorization: `Bearer ${token}`, 'X-Console-Check': 'token' },
      }),
    ),
  listCampaigns: async ({ status, type, name, page, page_size }: CampaignFilter) =>
    unwrap(
      await client.GET('/api/marketing/campaigns', {
        params: {
          query: {
            status: status || undefined,
            type: type || undefined,
            name: name || undefined,
            page,
            page_size,
          },
        },
      }),
    ),
  getCampaign: async (id: string) => unwrap(await client.GET('/api/marketing/campaigns/{id}', path(id))),
  createCampaign: async (body: CampaignBody) =>
    unwrap(await client.POST('/api/marketing/campaigns', { body })),
  archiveCampaign: async (id: string) =>
    unwrap(await client.POST('/api/marketing/campaigns/{id}/archive', path(id))),
  trigger: async (id: string, execution_type: 'simulation' | 'actual') =>
    unwrap(
      await client.POST('/api/marketing/campaigns/{id}/trigger', {
        ...path(id),
        body: { execution_type },
      }),
    ),
  getExecution: async (id: string) =>
    unwrap(await client.GET('/api/marketing/executions/{id}', path(id))),
  listExecutions: async (campaignId: string) =>
    unwrap(
      await client.GET('/api/marketing/campaigns/{id}/executions', {
        params: { path: { id: campaignId }, query: { page_size: 20 } },
      }),
    ),
  stats: async (campaignId: string) =>
    unwrap(await client.GET('/api/marketing/campaigns/{id}/stats', path(campaignId))),
  listTemplates: async () =>
    unwrap(await client.GET('/api/marketing/templates', { params: { query: { page_size: 100 } } })),
  /** A campaign and its `ETag` (sent back as `If-Match` by updateCampaign). */
  getCampaignTagged: async (id: string) => {
    const result = await client.GET('/api/marketing/campaigns/{id}', path(id));
    return { campaign: unwrap(result), etag: result.response.headers.get('ETag') };
  },
  /** PUT with `If-Match`: 412 when someone changed it since `etag` was read. */
  updateCampaign: async (id: string, body: CampaignBody, etag: string | null) => {
    const result = await client.PUT('/api/marketing/campaigns/{id}', {
      params: { path: { id }, header: { 'If-Match': etag } },
      body,
    });
    return { campaign: unwrap(result), etag: result.response.headers.get('ETag') };
  },
  listSegments: async () =>
    unwrap(await client.GET('/api/marketing/segments', { params: { query: { page_size: 100 } } })),
  segmentCount: async (id: string) =>
    unwrap(await client.GET('/api/marketing/segments/{id}/count', path(id))),
  /** How many customers a rule matches (`{tags_any: […]}` for a campaign's tags). */
  countRule: async (rule: Record<string, unknown>) =>
    unwrap(
      await client.POST('/api/marketing/segments/count', {
        body: { rule: rule as Record<string, never> },
      }),
    ),
  searchCustomers: async (q: string) =>
    unwrap(await client.GET('/api/marketing/customers', { params: { query: { q, page_size: 8 } } })),
  getCustomer: async (id: string) =>
    unwrap(await client.GET('/api/marketing/customers/{id}', path(id))),
  /** A saved campaign rendered for one customer. */
  previewCampaign: async (id: string, customer_id: string) =>
    unwrap(
      await client.POST('/api/marketing/campaigns/{id}/preview', {
        ...path(id),
        body: { customer_id },
      }),
    ),
  /** A campaign not saved yet (the form's body) rendered for one customer; nothing is saved. */
  previewUnsaved: async (campaign: CampaignBody, customer_id: string) =>
    unwrap(
      await client.POST('/api/marketing/campaigns/preview', { body: { campaign, customer_id } }),
    ),
  /** The progress stream (read with fetch: see src/sse.ts). */
  eventsUrl: (executionId: string) => `${API_BASE}/executions/${executionId}/events`,
};
