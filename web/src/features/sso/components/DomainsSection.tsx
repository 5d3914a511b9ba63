import { useState, type FormEvent } from 'react';
import { Badge, Button, Code, Group, Stack, Text, TextInput } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { ListTable } from '../../../components/ListTable';
import { EmptyState } from '../../../components/QueryState';
import { HeadedSection } from '../../../components/HeadedSection';
import { useAddSsoDomain } from '../api/addSsoDomain';
import { useDeleteSsoDomain } from '../api/deleteSsoDomain';
import { useSsoDomains } from '../api/listSsoDomains';
import { useVerifySsoDomain } from '../api/verifySsoDomain';

/** Verified domains: add one, publish its TXT record, verify it. */
export function DomainsSection({ org }: { readonly org: string }) {
  const domains = useSsoDomains(org);
  const add = useAddSsoDomain(org);
  const verify = useVerifySsoDomain(org);
  const remove = useDeleteSsoDomain(org);
  const [domain, setDomain] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate(domain.trim(), { onSuccess: () => setDomain('') });
  };
  const failure = add.error ?? verify.error ?? remove.error;
  return (
    <HeadedSection id="sso-domains" title="Verified domains">
      <Text size="sm" c="dimmed">
        People whose address is in a verified domain can sign in through this organization&apos;s IdP.
      </Text>
      <form onSubmit={submit} noValidate>
        <Group align="end">
          <TextInput label="Domain" value={domain} onChange={(e) => setDomain(e.currentTarget.value)} />
          <Button type="submit" loading={add.isPending} disabled={!domain.trim()}>
            Add domain
          </Button>
        </Group>
      </form>
      {failure ? (
        <Text size="sm" c="red" role="alert">
          {describeError(failure)}
        </Text>
      ) : null}
      <ListTable
        query={domains}
        what="domains"
        empty={<EmptyState title="No domains yet" />}
        verticalSpacing="sm"
        rowKey={(x) => x.domain}
        columns={[
          {
            header: 'Domain',
            cell: (x) => (
              <Stack gap={4}>
                <Text size="sm" fw={500}>
                  {x.domain}
                </Text>
                <Badge color={x.status === 'verified' ? 'green' : 'gray'} variant="light">
                  {x.status}
                </Badge>
              </Stack>
            ),
          },
          {
            header: 'TXT record to publish',
            cell: (x) => (
              <>
                <Text size="xs">Name</Text>
                <Code className="break-anywhere">{x.txtRecord.name}</Code>
                <Text size="xs">Value</Text>
                <Code className="break-anywhere">{x.txtRecord.value}</Code>
              </>
            ),
          },
        ]}
        actions={(x) => (
          <Group gap="xs">
            <Button
              size="xs"
              variant="light"
              loading={verify.isPending && verify.variables === x.domain}
              onClick={() => verify.mutate(x.domain)}
              aria-label={`Verify ${x.domain}`}
            >
              Verify
            </Button>
            <Button
              size="xs"
              variant="subtle"
              color="red"
              onClick={() => remove.mutate(x.domain)}
              aria-label={`Remove ${x.domain}`}
            >
              Remove
            </Button>
          </Group>
        )}
      />
    </HeadedSection>
  );
}
