// The API's types, all taken from the generated src/api/schema.d.ts (`npm run gen`, from the
// committed openapi.json), so the console cannot drift from the API.
import type { components } from './schema';

type Schemas = components['schemas'];
export type Channel = Schemas['Channel'];
export type CampaignStatus = Schemas['CampaignStatus'];
export type ExecutionStatus = Schemas['ExecutionStatus'];
export type Pagination = Schemas['Pagination'];
export type Campaign = Schemas['Campaign'];
export type CampaignBody = Schemas['CampaignBody'];
export type CampaignStats = Schemas['CampaignStats'];
export type Figures = Schemas['Figures'];
export type Rates = Schemas['Rates'];
export type Sample = Schemas['Sample'];
export type Execution = Schemas['ExecutionView'];
export type Progress = Schemas['Progress'];
export type Template = Schemas['Template'];
export type ApiError = Schemas['ErrorDetail'];
export type Segment = Schemas['Segment'];
export type Customer = Schemas['Customer'];

/** An execution's skipped customers by reason (the document leaves the object open). */
export function skippedByReason(execution: Execution): [string, number][] {
  const skipped = execution.skipped;
  if (!skipped || typeof skipped !== 'object') return [];
  return Object.entries(skipped as Record<string, unknown>)
    .map(([reason, n]): [string, number] => [reason, Number(n)])
    .filter(([, n]) => Number.isFinite(n) && n > 0);
}

/** A dry run's rendered samples (`Sample`s; the document leaves the array open). */
export function samplesOf(execution: Execution): Sample[] {
  return Array.isArray(execution.samples) ? (execution.samples as Sample[]) : [];
}

/** A dry run's cost estimate, when there is one. */
export function costEstimate(execution: Execution): { total: string; currency: string } | null {
  const c = execution.cost_estimate as { total?: unknown; currency?: unknown } | null | undefined;
  return c && c.total !== undefined
    ? { total: String(c.total), currency: String(c.currency ?? '') }
    : null;
}
