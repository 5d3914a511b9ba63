import { useState, type FormEvent } from 'react';
import { Button, Checkbox, Group, Stack, Text, TextInput } from '@mantine/core';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { statements, type Permission } from '../../../../../src/platform/authz/permissions';
import { useOrg } from '../../organizations/components/org-context';

export interface RoleDraft {
  readonly key: string;
  readonly name: string;
  readonly permissions: string[];
}

/** What a resource of `statements` is called on screen. */
const RESOURCE_LABELS: Readonly<Record<keyof typeof statements, string>> = {
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

/** Domain refusals that are about one field. */
const FIELD_CODES = {
  ROLE_KEY_INVALID: 'key',
  ROLE_KEY_RESERVED: 'key',
  ROLE_KEY_TAKEN: 'key',
  ROLE_PERMISSIONS_INVALID: 'permissions',
  MEMBERSHIP_ESCALATION: 'permissions',
};

/**
 * A custom role's key (creation only), name and permissions: one checkbox per permission, grouped by
 * resource as `statements` (src/platform/authz/permissions.ts) lists them. Permissions the member does not
 * hold are disabled: nobody grants above their own.
 */
export function RoleForm({
  initial,
  submitLabel,
  pending,
  error,
  onSubmit,
  onCancel,
}: {
  readonly initial?: RoleDraft;
  readonly submitLabel: string;
  readonly pending: boolean;
  readonly error: unknown;
  readonly onSubmit: (draft: RoleDraft) => void;
  readonly onCancel: () => void;
}) {
  const { can } = useOrg();
  const [key, setKey] = useState(initial?.key ?? '');
  const [name, setName] = useState(initial?.name ?? '');
  const [permissions, setPermissions] = useState<string[]>(initial?.permissions ?? []);
  const errors = fieldErrorsOf(error, FIELD_CODES);
  const editing = initial !== undefined;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit({ key: key.trim(), name: name.trim(), permissions });
  };
  const setGroup = (resource: string, chosen: string[]) =>
    setPermissions((all) => [...all.filter((p) => !p.startsWith(`${resource}:`)), ...chosen]);
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        <FormError error={error} fields={['key', 'name', 'permissions']} fieldErrors={errors} />
        <TextInput
          label="Key"
          description={
            editing
              ? 'A role’s key cannot change.'
              : '2–40 lower-case letters, digits or underscores, starting with a letter (e.g. qa_lead).'
          }
          required={!editing}
          disabled={editing}
          data-autofocus={editing ? undefined : true}
          value={key}
          onChange={(e) => setKey(e.currentTarget.value)}
          error={errors.key}
        />
        <TextInput
          label="Name"
          required
          data-autofocus={editing ? true : undefined}
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={errors.name}
        />
        <Stack gap="xs">
          <Text size="sm" fw={500}>
            Permissions
          </Text>
          <Text size="xs" c="dimmed">
            You can only grant permissions your own role holds; the others are disabled.
          </Text>
          {Object.entries(statements).map(([resource, actions]) => (
            <Checkbox.Group
              key={resource}
              label={RESOURCE_LABELS[resource as keyof typeof statements]}
              value={permissions.filter((p) => p.startsWith(`${resource}:`))}
              onChange={(chosen) => setGroup(resource, chosen)}
            >
              <Group gap="md" mt={4} wrap="wrap">
                {(actions as readonly string[]).map((action) => {
                  const p = `${resource}:${action}`;
                  return (
                    <Checkbox
                      key={p}
                      value={p}
                      label={action.replace('_', ' ')}
                      description={can(p as Permission) ? undefined : 'not in your role'}
                      disabled={!can(p as Permission)}
                    />
                  );
                })}
              </Group>
            </Checkbox.Group>
          ))}
          {errors.permissions ? (
            <Text size="sm" c="red" role="alert">
              {errors.permissions}
            </Text>
          ) : null}
        </Stack>
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={pending}>
            {submitLabel}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
