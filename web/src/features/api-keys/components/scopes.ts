import { allPermissions, type Permission } from '../../../../../src/platform/authz/permissions';

/** What each permission lets a key do, for the scope checkboxes. */
const DESCRIPTIONS: Record<Permission, string> = {
  'org:read': 'Read the organization',
  'org:update': 'Change the organization’s settings',
  'org:delete': 'Delete the organization',
  'org:export': 'Export all of the organization’s data (needs a signed-in member: refused to keys)',
  'members:read': 'List members and roles',
  'members:invite': 'Invite people (needs a signed-in member: refused to keys)',
  'members:remove': 'Remove members (needs a signed-in member: refused to keys)',
  'members:update_role': 'Change roles (needs a signed-in member: refused to keys)',
  'projects:read': 'List and read projects',
  'projects:create': 'Create projects',
  'projects:update': 'Edit projects',
  'projects:delete': 'Delete projects',
  'api_keys:manage': 'List and revoke API keys (keys never create keys)',
  'audit:read': 'Read, export and verify the audit log',
  'flags:manage': 'Set feature flag overrides',
  'billing:read': 'See the plan, seats and invoices (PDF too)',
  'billing:manage': 'Manage billing',
  'usage:read': 'Read usage summaries',
  'usage:write': 'Record usage events',
  'webhooks:manage': 'Manage webhook endpoints, their secrets and deliveries',
  'sso:manage': 'Manage SSO connections, verified domains and directory sync',
};

const RESOURCES: Record<string, string> = {
  org: 'Organization',
  members: 'Members',
  projects: 'Projects',
  api_keys: 'API keys',
  audit: 'Audit log',
  flags: 'Feature flags',
  billing: 'Billing',
  usage: 'Usage',
  webhooks: 'Webhooks',
  sso: 'Single sign-on',
};

/** A resource's name for a person (`api_keys` → "API keys"). */
export const resourceLabel = (resource: string): string => RESOURCES[resource] ?? resource;

export const describeScope = (p: Permission): string => DESCRIPTIONS[p];

/**
 * The scopes a member may give a key, grouped by resource: only permissions the member holds (the
 * server refuses any other with API_KEY_SCOPES_NOT_ALLOWED).
 */
export function grantableScopes(
  can: (p: Permission) => boolean,
): { resource: string; scopes: Permission[] }[] {
  const groups = new Map<string, Permission[]>();
  for (const p of allPermissions) {
    if (!can(p)) continue;
    const resource = p.split(':')[0]!;
    groups.set(resource, [...(groups.get(resource) ?? []), p]);
  }
  return [...groups].map(([resource, scopes]) => ({ resource, scopes }));
}
