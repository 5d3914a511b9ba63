import { Button, Fieldset, Group, Stack, Text, TextInput } from '@mantine/core';
import { RoleSelect } from '../../members/components/RoleSelect';
import type { RoleMappingDraft } from './connection-draft';

/**
 * The IdP groups mapped to roles: a person in a listed group gets its role (in several, the one with the
 * most permissions), anyone else the default role. Owner is never offered: an IdP never grants it.
 */
export function RoleMappingsField({
  value,
  onChange,
  errors,
}: {
  readonly value: readonly RoleMappingDraft[];
  readonly onChange: (next: RoleMappingDraft[]) => void;
  /** `mapping<i>` → message ({@link validateDraft}). */
  readonly errors: Readonly<Record<string, string>>;
}) {
  const set = (i: number, patch: Partial<RoleMappingDraft>) =>
    onChange(value.map((m, j) => (j === i ? { ...m, ...patch } : m)));
  return (
    <Fieldset legend="Role mapping" variant="unstyled">
      <Stack gap="xs">
        <Text size="xs" c="dimmed">
          People in a listed IdP group get its role (in several, the role with the most permissions); everyone
          else gets the default role.
        </Text>
        {value.map((m, i) => (
          <Group key={i} align="flex-start" gap="xs">
            <TextInput
              label={`Group ${i + 1}`}
              value={m.value}
              maxLength={200}
              onChange={(e) => set(i, { value: e.currentTarget.value })}
              error={errors[`mapping${i}`]}
              style={{ flex: '1 1 10rem', minWidth: 0 }}
            />
            <RoleSelect
              label={`Role of group ${i + 1}`}
              description=""
              value={m.role}
              onChange={(role) => set(i, { role })}
              exclude={['owner']}
            />
            <Button
              variant="subtle"
              color="red"
              mt={24}
              aria-label={`Remove group ${i + 1}`}
              onClick={() => onChange(value.filter((_, j) => j !== i))}
            >
              Remove
            </Button>
          </Group>
        ))}
        <Button
          variant="light"
          size="xs"
          style={{ alignSelf: 'flex-start' }}
          disabled={value.length >= 100}
          onClick={() => onChange([...value, { value: '', role: null }])}
        >
          Add a group mapping
        </Button>
      </Stack>
    </Fieldset>
  );
}
