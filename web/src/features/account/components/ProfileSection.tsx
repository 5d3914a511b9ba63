import { useState, type FormEvent } from 'react';
import { Badge, Button, Group, Stack, Text, TextInput } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useUpdateProfile } from '../api/updateProfile';
import { AccountSection } from './AccountSection';

/** The email address (read-only, with its verification state) and the display name (editable). */
export function ProfileSection({ user }: { readonly user: Schemas['AuthUser'] }) {
  const update = useUpdateProfile();
  const [name, setName] = useState(user.name ?? '');
  const errors = fieldErrorsOf(update.error, {});
  const trimmed = name.trim();
  const unchanged = (trimmed === '' ? null : trimmed) === user.name;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // An empty field clears the name; anything else goes as typed (the server trims and checks it).
    update.mutate({ name: trimmed === '' ? null : name });
  };
  return (
    <AccountSection id="profile" title="Profile">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <FormError error={update.error} fields={['name']} fieldErrors={errors} />
          <TextInput
            label="Email"
            value={user.email}
            readOnly
            description="Your sign-in address. It cannot be changed here."
            rightSectionWidth={110}
            rightSection={
              user.emailVerified ? (
                <Badge color="green" variant="light">
                  Verified
                </Badge>
              ) : (
                <Badge color="yellow" variant="light">
                  Not verified
                </Badge>
              )
            }
          />
          <TextInput
            label="Name"
            description="How you appear to the other members of your organizations. Leave empty for none."
            autoComplete="name"
            value={name}
            onChange={(e) => {
              setName(e.currentTarget.value);
              if (update.isSuccess) update.reset();
            }}
            error={errors.name}
          />
          <Group gap="sm">
            <Button type="submit" loading={update.isPending} disabled={unchanged && !update.isError}>
              Save profile
            </Button>
            {update.isSuccess ? (
              <Text size="sm" role="status">
                {update.data.user.name ? 'Name saved.' : 'Name removed.'}
              </Text>
            ) : null}
          </Group>
        </Stack>
      </form>
    </AccountSection>
  );
}
