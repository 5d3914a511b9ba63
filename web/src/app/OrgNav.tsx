import { Box } from '@mantine/core';
import { NavLink } from 'react-router';
import type { Permission } from '../../../src/platform/authz/permissions';
import { useMyOrganizations } from '../features/organizations/api/listMyOrganizations';
import { usePermissions } from '../features/organizations/components/use-permissions';

/** The organization's screens, each shown only when the member's role holds what it needs. */
const SCREENS: readonly { path: string; label: string; needs: Permission }[] = [
  { path: 'projects', label: 'Projects', needs: 'projects:read' },
  { path: 'members', label: 'Members', needs: 'members:read' },
  { path: 'invitations', label: 'Invitations', needs: 'members:invite' },
  { path: 'roles', label: 'Roles', needs: 'members:read' },
  { path: 'api-keys', label: 'API keys', needs: 'api_keys:manage' },
  { path: 'audit-log', label: 'Audit log', needs: 'audit:read' },
  { path: 'flags', label: 'Feature flags', needs: 'org:read' },
  { path: 'usage', label: 'Usage', needs: 'usage:read' },
  { path: 'billing', label: 'Plan & billing', needs: 'billing:read' },
  { path: 'settings', label: 'Settings', needs: 'org:read' },
  { path: 'settings/webhooks', label: 'Webhooks', needs: 'webhooks:manage' },
  { path: 'settings/sso', label: 'Single sign-on', needs: 'sso:manage' },
];

/** The navigation of `/o/:org/…`; nothing for an organization the user is not an active member of. */
export function OrgNav({ slug }: { readonly slug: string }) {
  const orgs = useMyOrganizations();
  const org = orgs.data?.find((o) => o.slug === slug);
  return org ? <Links slug={slug} role={org.role} /> : null;
}

function Links({ slug, role }: { readonly slug: string; readonly role: string }) {
  const { ready, permissions } = usePermissions(slug, role);
  if (!ready) return null;
  return (
    <Box component="nav" aria-label="Organization" className="app-nav">
      {SCREENS.filter((s) => permissions.has(s.needs)).map((s) => (
        // `end` on Settings: its Webhooks page below it has a link of its own.
        <NavLink key={s.path} to={`/o/${slug}/${s.path}`} end={s.path === 'settings'}>
          {s.label}
        </NavLink>
      ))}
    </Box>
  );
}

/** The platform administration screens (shown to platform administrators only; the server decides). */
export function AdminNav() {
  return (
    <Box component="nav" aria-label="Platform administration" className="app-nav">
      <NavLink to="/admin/organizations">Organizations</NavLink>
      <NavLink to="/admin/pending-deletion">Pending deletion</NavLink>
      <NavLink to="/admin/flags">Flag definitions</NavLink>
      <NavLink to="/admin/plans">Plans</NavLink>
      <NavLink to="/admin/meters">Meters</NavLink>
      <NavLink to="/admin/audit-log">Platform audit log</NavLink>
    </Box>
  );
}
