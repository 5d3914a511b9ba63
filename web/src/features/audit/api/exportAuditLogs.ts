import { basePath } from '../../../lib/base-path';
import type { AuditFilters } from './listAuditLogs';

export type ExportFormat = 'jsonl' | 'csv';

/**
 * `GET /v1/orgs/{org}/audit-logs/export`: not fetched by the console but linked, so the browser downloads
 * the stream itself (the session cookie authenticates a same-origin GET; the server names the file).
 */
export function exportHref(org: string, filters: AuditFilters, format: ExportFormat): string {
  const q = new URLSearchParams({ format });
  for (const [k, v] of Object.entries(filters)) if (typeof v === 'string' && v !== '') q.set(k, v);
  return `${basePath}/v1/orgs/${encodeURIComponent(org)}/audit-logs/export?${q.toString()}`;
}
