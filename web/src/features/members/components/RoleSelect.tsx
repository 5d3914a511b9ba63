import { Select } from '@mantine/core';
import type { Permission } from '../../../../../src/platform/authz/permissions';
import { useOrg } from '../../organizations/components/org-context';
import { useRoles, type Role } from '../api/listRoles';

/** True when the member holds every permission of `role` (so they may grant it). */
export function canGrant(role: Role, can: (p: Permission) => boolean): boolean {
  return role.permissions.every((p) => can(p as Permission));
}

/**
 * A role picker: the built-in roles then the organization's custom ones; the roles beyond the member's own
 * permissions are listed but disabled (nobody grants above their own; the server refuses it anyway).
 */
export function RoleSelect({
  value,
  onChange,
  label = 'Role',
  error,
  description,
  exclude = [],
}: {
  readonly value: string | null;
  readonly onChange: (role: string | null) => void;
  readonly label?: string;
  readonly error?: string | undefined;
  readonly description?: string;
  /** Roles not offered at all (e.g. `owner` where it can never be granted). */
  readonly exclude?: readonly string[];
}) {
  const { org, can } = useOrg();
  const roles = useRoles(org.slug);
  const list = (roles.data?.data ?? []).filter((r) => !exclude.includes(r.key));
  const data = [
    {
      group: 'Built-in roles',
      items: list
        .filter((r) => r.builtIn)
        .map((r) => ({ value: r.key, label: r.name, disabled: !canGrant(r, can) })),
    },
    {
      group: 'Custom roles',
      items: list
        .filter((r) => !r.builtIn)
        .map((r) => ({ value: r.key, label: `${r.name} (${r.key})`, disabled: !canGrant(r, can) })),
    },
  ].filter((g) => g.items.length > 0);
  return (
    <Select
      label={label}
      description={description ?? 'Roles beyond your own permissions cannot be chosen.'}
      placeholder={
        roles.isPending ? 'Loading roles…' : roles.isError ? 'Could not load roles' : 'Choose a role'
      }
      data={data}
      value={value}
      onChange={onChange}
      allowDeselect={false}
      required
      error={error}
      comboboxProps={{ withinPortal: true }}
    />
  );
}

/** A role's display name (custom ones from the list; the key when unknown). */
export function useRoleName(org: string): (key: string) => string {
  const roles = useRoles(org);
  const names = new Map((roles.data?.data ?? []).map((r) => [r.key, r.name]));
  return (key) => names.get(key) ?? key;
}
