import { useState, type FormEvent } from 'react';
import { Button, Group, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { useNavigate } from 'react-router';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { notifySuccess } from '../../../components/notify';
import { useUpdateOrganization } from '../../organizations/api/updateOrganization';
import { useOrg } from '../../organizations/components/org-context';
import { RegionField } from './RegionField';

/**
 * Name and slug (`org:update`). A new slug moves the console to the organization's new address. The
 * region (data residency) is shown read-only below them.
 */
export function GeneralSection() {
  const { org, can } = useOrg();
  const update = useUpdateOrganization(org.slug);
  const navigate = useNavigate();
  const [name, setName] = useState(org.name);
  const [slug, setSlug] = useState(org.slug);
  const allowed = can('org:update');
  const errors = fieldErrorsOf(update.error, {
    ORGANIZATION_SLUG_TAKEN: 'slug',
    ORGANIZATION_SLUG_INVALID: 'slug',
  });
  const patch = {
    ...(name !== org.name ? { name } : {}),
    ...(slug !== org.slug ? { slug } : {}),
  };
  const changed = Object.keys(patch).length > 0;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!changed) return;
    update.mutate(patch, {
      onSuccess: (saved) => {
        notifySuccess('Organization saved');
        if (saved.slug !== org.slug) void navigate(`/o/${saved.slug}/settings`, { replace: true });
      },
    });
  };
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="org-general">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4" id="org-general">
            General
          </Title>
          {!allowed ? (
            <Text size="sm" c="dimmed">
              Your role cannot change the organization’s name or address.
            </Text>
          ) : null}
          <FormError error={update.error} fields={['name', 'slug']} fieldErrors={errors} />
          <TextInput
            label="Name"
            required
            value={name}
            disabled={!allowed}
            onChange={(e) => setName(e.currentTarget.value)}
            error={errors.name}
          />
          <TextInput
            label="Slug"
            description={`Lowercase letters, digits and dashes: the organization’s address (/o/${slug || '…'}/…). Old links stop working when it changes.`}
            required
            value={slug}
            disabled={!allowed}
            onChange={(e) => setSlug(e.currentTarget.value)}
            error={errors.slug}
          />
          <RegionField />
          {allowed ? (
            <Group justify="flex-end">
              <Button type="submit" loading={update.isPending} disabled={!changed}>
                Save
              </Button>
            </Group>
          ) : null}
        </Stack>
      </form>
    </Paper>
  );
}
