import { useState, type FormEvent } from 'react';
import {
  Alert,
  Button,
  Container,
  Paper,
  Select,
  Skeleton,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useNavigate } from 'react-router';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useCreateOrganization } from '../api/createOrganization';
import { useRegions } from '../api/listRegions';

/** `acme corp` → `acme-corp`: a slug suggestion while the slug field was not edited. */
function slugify(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/** Create an organization (the user becomes its owner), then open it. */
export default function CreateOrganizationPage() {
  const create = useCreateOrganization();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [slugEdited, setSlugEdited] = useState(false);
  const regions = useRegions();
  // null: the server's default (DEFAULT_REGION, or the control database when it has none).
  const [region, setRegion] = useState<string | null>(null);
  const errors = fieldErrorsOf(create.error, {
    ORGANIZATION_SLUG_TAKEN: 'slug',
    ORGANIZATION_REGION_UNKNOWN: 'region',
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(
      { name: name.trim(), slug, ...(region ? { region } : {}) },
      { onSuccess: (org) => void navigate(`/o/${org.slug}/projects`) },
    );
  };
  return (
    <Container size={520} px={0}>
      <Paper withBorder p="lg" radius="md">
        <form onSubmit={submit} noValidate>
          <Stack gap="sm">
            <Title order={1} size="h2">
              New organization
            </Title>
            <Text size="sm" c="dimmed">
              You will be its owner and can invite your colleagues.
            </Text>
            <FormError error={create.error} fields={['name', 'slug', 'region']} fieldErrors={errors} />
            <TextInput
              label="Name"
              required
              value={name}
              onChange={(e) => {
                const v = e.currentTarget.value;
                setName(v);
                if (!slugEdited) setSlug(slugify(v));
              }}
              error={errors.name}
            />
            <TextInput
              label="Slug"
              description="Lower-case letters, digits and dashes: the organization's address in links."
              required
              value={slug}
              onChange={(e) => {
                setSlugEdited(true);
                setSlug(e.currentTarget.value);
              }}
              error={errors.slug}
            />
            {regions.isPending ? (
              <Skeleton height={58} aria-label="Loading regions" />
            ) : regions.isError ? (
              <Alert color="red" title="Regions could not be loaded">
                The organization will be created in the server&apos;s default region.{' '}
                <Button variant="subtle" size="compact-sm" onClick={() => void regions.refetch()}>
                  Retry
                </Button>
              </Alert>
            ) : regions.data.data.length > 0 ? (
              <Select
                label="Region"
                description="Where all of the organization's data is stored. Only a platform administrator can change it later."
                data={regions.data.data.map((r) => ({ value: r.name, label: r.name }))}
                value={region ?? regions.data.default}
                onChange={setRegion}
                allowDeselect={false}
                placeholder={regions.data.default ? undefined : 'Default (the main database)'}
                clearable={!regions.data.default}
                error={errors.region}
              />
            ) : null}
            <Button type="submit" loading={create.isPending} style={{ alignSelf: 'flex-start' }}>
              Create organization
            </Button>
          </Stack>
        </form>
      </Paper>
    </Container>
  );
}
