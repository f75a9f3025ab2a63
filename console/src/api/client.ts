// The console's API client, generated from the OpenAPI document: openapi-fetch over the
// `paths` of src/api/schema.d.ts. Every call carries the bearer token; a 401 signs the user out;
// an error answer becomes an ApiFailure holding the API's {code, message, field}.
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';
import { clearToken, getToken } from '../auth';
import type {
  ApiError,
  CampaignBody,
  CampaignStatus,
  Channel,
  JourneyBody,
  JourneyStatus,
  OptOutScope,
  RecordStatus,
  SegmentBody,
  TemplateBody,
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

export interface CustomerQuery {
  q?: string;
  external_id?: string;
  tag?: string;
  cursor?: string | null;
  page_size?: number;
}

export interface RecordFilter {
  status?: RecordStatus | '';
  channel?: Channel | '';
  customer_id?: string;
}

export interface TemplateFilter {
  channel?: Channel | '';
  name?: string;
  page?: number;
}

const path = (id: string) => ({ params: { path: { id } } });

/** A journey with its `ETag` (for `If-Match` on the next save). */
function withEtag<T>(result: { data?: T; error?: unknown; response: Response }) {
  return { journey: unwrap(result), etag: result.response.headers.get('ETag') };
}

// Journeys (src/pages/journeys.tsx).
const journeyApi = {
  listJourneys: async (status: JourneyStatus | '', page: number, page_size: number) =>
    unwrap(
      await client.GET('/api/marketing/journeys', {
        params: { query: { status: status || undefined, page, page_size } },
      }),
    ),
  getJourney: async (id: string) =>
    withEtag(await client.GET('/api/marketing/journeys/{id}', path(id))),
  createJourney: async (body: JourneyBody) =>
    unwrap(await client.POST('/api/marketing/journeys', { body })),
  /** Saves with `If-Match: etag` (a 412 ApiFailure when it changed since it was read). */
  updateJourney: async (id: string, body: JourneyBody, etag: string | null) => {
    return withEtag(
      await client.PUT('/api/marketing/journeys/{id}', {
        params: { path: { id }, header: { 'If-Match': etag } },
        body,
      }),
    );
  },
  activateJourney: async (id: string) =>
    unwrap(await client.POST('/api/marketing/journeys/{id}/activate', path(id))),
  pauseJourney: async (id: string) =>
    unwrap(await client.POST('/api/marketing/journeys/{id}/pause', path(id))),
  archiveJourney: async (id: string) =>
    unwrap(await client.POST('/api/marketing/journeys/{id}/archive', path(id))),
  enrollInJourney: async (id: string, customer_ids: string[]) =>
    unwrap(
      await client.POST('/api/marketing/journeys/{id}/enroll', { ...path(id), body: { customer_ids } }),
    ),
  journeyStats: async (id: string) =>
    unwrap(await client.GET('/api/marketing/journeys/{id}/stats', path(id))),
};

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
  // The report's time series and records browser.
  hourlyStats: async (campaignId: string) =>
    unwrap(await client.GET('/api/marketing/campaigns/{id}/stats/hourly', path(campaignId))),
  /** A page of a campaign's records by cursor (`''` for the first): never counted. */
  listRecords: async (campaignId: string, filter: RecordFilter, cursor: string, page_size: number) =>
    unwrap(
      await client.GET('/api/marketing/records', {
        params: {
          query: {
            campaign_id: campaignId,
            status: filter.status || undefined,
            channel: filter.channel || undefined,
            customer_id: filter.customer_id?.trim() || undefined,
            cursor,
            page_size,
          },
        },
      }),
    ),
  // The templates section.
  templatesPage: async ({ channel, name, page }: TemplateFilter) =>
    unwrap(
      await client.GET('/api/marketing/templates', {
        params: { query: { channel: channel || undefined, name: name || undefined, page, page_size: 20 } },
      }),
    ),
  /** A template and its version (`ETag`, for `If-Match` when saving). */
  getTemplate: async (id: string) => {
    const result = await client.GET('/api/marketing/templates/{id}', path(id));
    return { template: unwrap(result), etag: result.response.headers.get('ETag') };
  },
  createTemplate: async (body: TemplateBody) =>
    unwrap(await client.POST('/api/marketing/templates', { body })),
  updateTemplate: async (id: string, body: TemplateBody, etag: string | null) => {
    const result = await client.PUT('/api/marketing/templates/{id}', {
      params: { path: { id }, header: { 'If-Match': etag } },
      body,
    });
    return { template: unwrap(result), etag: result.response.headers.get('ETag') };
  },
  deleteTemplate: async (id: string) => {
    const result = await client.DELETE('/api/marketing/templates/{id}', path(id));
    if (!result.response.ok) unwrap(result);
  },
  previewTemplate: async (id: string, customer_id: string) =>
    unwrap(
      await client.POST('/api/marketing/templates/{id}/preview', { ...path(id), body: { customer_id } }),
    ),
  /** Customers matching `q` (name, e-mail, phone…), for choosing whom to preview for. */
  findCustomers: async (q: string) =>
    unwrap(await client.GET('/api/marketing/customers', { params: { query: { q, page_size: 10 } } })),
  // Segments and customers (src/pages/segments.tsx, src/pages/customers.tsx).
  listSegments: async (page = 1) =>
    unwrap(await client.GET('/api/marketing/segments', { params: { query: { page, page_size: 100 } } })),
  /** A segment and its version (`ETag`, for `If-Match` when saving). */
  getSegment: async (id: string) => {
    const result = await client.GET('/api/marketing/segments/{id}', path(id));
    return { segment: unwrap(result), etag: result.response.headers.get('ETag') };
  },
  createSegment: async (body: SegmentBody) => unwrap(await client.POST('/api/marketing/segments', { body })),
  /** PUT with `If-Match`: 412 when someone changed it since `etag` was read. */
  updateSegment: async (id: string, body: SegmentBody, etag: string | null) =>
    unwrap(
      await client.PUT('/api/marketing/segments/{id}', {
        params: { path: { id }, header: { 'If-Match': etag } },
        body,
      }),
    ),
  deleteSegment: async (id: string) => {
    const result = await client.DELETE('/api/marketing/segments/{id}', path(id));
    if (!result.response.ok) unwrap(result);
  },
  segmentCount: async (id: string) =>
    unwrap(await client.GET('/api/marketing/segments/{id}/count', path(id))).count,
  /** How many customers an unsaved rule selects right now. (The document types a rule as an
   * object without properties, `Record<string, never>`: callers pass src/segmentRule.ts JSON.) */
  countRule: async (rule: Record<string, never>, signal?: AbortSignal) =>
    unwrap(await client.POST('/api/marketing/segments/count', { body: { rule }, signal })).count,
  listCustomers: async (query: CustomerQuery) =>
    unwrap(
      await client.GET('/api/marketing/customers', {
        params: {
          query: {
            q: query.q || undefined,
            external_id: query.external_id || undefined,
            tag: query.tag || undefined,
            cursor: query.cursor || undefined,
            page_size: query.page_size ?? 50,
          },
        },
      }),
    ),
  getCustomer: async (id: string) => unwrap(await client.GET('/api/marketing/customers/{id}', path(id))),
  optOut: async (id: string, channel: OptOutScope) =>
    unwrap(await client.POST('/api/marketing/customers/{id}/opt-outs', { ...path(id), body: { channel } })),
  eraseCustomer: async (id: string) => {
    const result = await client.DELETE('/api/marketing/customers/{id}', path(id));
    if (!result.response.ok) unwrap(result);
  },
  /** One customer's records in every campaign, oldest first (the first `page_size`). */
  customerRecords: async (customerId: string, page_size = 500) =>
    unwrap(
      await client.GET('/api/marketing/records', {
        params: { query: { customer_id: customerId, cursor: '', page_size } },
      }),
    ).records,
  // Campaign create and edit (src/pages/CampaignForm.tsx).
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
  searchCustomers: async (q: string) =>
    unwrap(await client.GET('/api/marketing/customers', { params: { query: { q, page_size: 8 } } })),
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
  ...journeyApi,
};

