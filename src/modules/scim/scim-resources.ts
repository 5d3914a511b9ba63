import SCIMMY from 'scimmy';
import { sql, type RawBuilder } from 'kysely';
import { ScimError } from './scim.errors.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

// C0 and C1 controls, and the bidirectional overrides and isolates that reorder what a reader sees.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A name as people read it: control and direction-override characters taken out. */
export const printable = (v: string): string => v.replace(UNPRINTABLE, '');

/** `meta.version` of a row version: a weak ETag. */
export const etagOf = (version: number) => `W/"${version}"`;

/** Refuses with 412 unless `ifMatch` (absent, `*`, or a list of ETags) names the current version. */
export function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim());
  if (tags.includes('*') || tags.includes(etagOf(version))) return;
  throw new ScimError(412, 'the resource has changed: its version does not match If-Match');
}

/** A parsed SCIM filter in scimmy's form: OR of AND-groups of `attribute: [op, value]`. */
type Group = Record<string, unknown>;

/** The attributes a filter may compare, each to its SQL column expression (all `eq`-comparable). */
export type FilterColumns = Record<string, (value: unknown) => RawBuilder<boolean>>;

/**
 * Turns a SCIM filter into a SQL condition, through scimmy's parser. Only the attributes of `columns`
 * are supported, with `eq` (and `pr` where the column allows nulls); anything else is 400 invalidFilter,
 * never a silently broader match.
 */
export function filterToSql(filter: string, columns: FilterColumns): RawBuilder<boolean> {
  let parsed: Group[];
  try {
    parsed = [...new SCIMMY.Types.Filter(filter)] as Group[];
  } catch (err) {
    throw new ScimError(400, `invalid filter: ${(err as Error).message}`, 'invalidFilter');
  }
  const ors = parsed.map((group) => {
    const ands: RawBuilder<boolean>[] = [];
    const walk = (obj: Group, prefix: string) => {
      for (const [key, cond] of Object.entries(obj)) {
        const path = prefix ? `${prefix}.${key}` : key;
        if (Array.isArray(cond)) {
          const [op, value] = cond as [string, unknown];
          const column = columns[path.toLowerCase()];
          if (!column || op !== 'eq') {
            throw new ScimError(400, `unsupported filter on ${path} (${op})`, 'invalidFilter');
          }
          ands.push(column(value));
        } else if (cond && typeof cond === 'object') {
          walk(cond as Group, path);
        } else {
          throw new ScimError(400, 'invalid filter', 'invalidFilter');
        }
      }
    };
    walk(group, '');
    return ands.length === 0 ? sql<boolean>`true` : sql<boolean>`(${sql.join(ands, sql` and `)})`;
  });
  return ors.length === 0 ? sql<boolean>`true` : sql<boolean>`(${sql.join(ors, sql` or `)})`;
}

/** Past any real directory; keeps the offset inside PostgreSQL's bigint (a larger one raised a 500). */
const MAX_START_INDEX = 2 ** 31;

/** `startIndex` (1-based, at most 2^31) and `count` of a list request, clamped (count at most 200). */
export function listWindow(q: { startIndex?: number; count?: number }): { offset: number; count: number } {
  const start = Math.min(MAX_START_INDEX, Math.max(1, Math.floor(q.startIndex ?? 1)));
  const count = Math.min(200, Math.max(0, Math.floor(q.count ?? 100)));
  return { offset: start - 1, count };
}

const BOOLEAN_STRINGS: Record<string, boolean> = { true: true, false: false };

/** Entra ID sends booleans as strings ("False") and capitalized ops ("Replace"): made standard here. */
function normalizeValue(path: string | undefined, value: unknown): unknown {
  if (path && /(^|\.)active$/i.test(path) && typeof value === 'string') {
    const b = BOOLEAN_STRINGS[value.toLowerCase()];
    return b ?? value;
  }
  if (!path && value && typeof value === 'object' && !Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalizeValue(k, v);
    return out;
  }
  return value;
}

/** Far above what Okta and Entra ID send; tens of thousands kept the organization locked for seconds. */
const MAX_PATCH_OPERATIONS = 1000;

/**
 * Applies a SCIM PatchOp body to a resource (as `Schemas.User` or `Schemas.Group` would present it) with
 * scimmy's PatchOp, after normalizing what Entra ID sends; returns the patched resource.
 */
export async function applyPatch(
  kind: 'User' | 'Group',
  resource: Record<string, unknown>,
  body: unknown,
): Promise<Record<string, unknown>> {
  const b = body as { schemas?: unknown; Operations?: unknown };
  if (!b || !Array.isArray(b.Operations)) {
    throw new ScimError(400, 'a PatchOp body with Operations is required', 'invalidSyntax');
  }
  if (b.Operations.length > MAX_PATCH_OPERATIONS) {
    throw new ScimError(400, `at most ${MAX_PATCH_OPERATIONS} operations per PatchOp`, 'invalidValue');
  }
  const operations = (b.Operations as Record<string, unknown>[]).map((o) => {
    const path = typeof o.path === 'string' ? o.path : undefined;
    return {
      ...o,
      op: typeof o.op === 'string' ? o.op.toLowerCase() : o.op,
      value: normalizeValue(path, o.value),
    };
  });
  try {
    const patch = new SCIMMY.Messages.PatchOp({
      schemas: [PATCH_SCHEMA],
      Operations: operations as never,
    });
    const Schema = kind === 'User' ? SCIMMY.Schemas.User : SCIMMY.Schemas.Group;
    const instance = new Schema(resource, 'out') as never;
    const patched = await patch.apply(instance, async (v: unknown) => v as never);
    return JSON.parse(JSON.stringify(patched)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ScimError) throw err;
    const e = err as { status?: number; scimType?: string; message?: string };
    throw new ScimError(
      e.status ?? 400,
      e.message ?? 'invalid patch',
      (e.scimType as ScimError['scimType']) ?? 'invalidValue',
    );
  }
}
