import { useState } from 'react';
import { Alert, Button, Group, Modal, Stack, Text, Title } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { useOrg } from '../../organizations/components/org-context';
import { useApiKeys } from '../api/listApiKeys';
import { useCreateApiKey, type CreatedApiKey } from '../api/createApiKey';
import { ApiKeysTable } from '../components/ApiKeysTable';
import { CreateApiKeyForm } from '../components/CreateApiKeyForm';
import { RevokeApiKeyModal } from '../components/RevokeApiKeyModal';
import { SecretModal } from '../components/SecretModal';

type ApiKey = Schemas['ApiKey'];

/**
 * The organization's API keys (`api_keys:manage`): create with scopes the member holds, the secret shown
 * once, list (cursor paging), revoke after confirmation.
 */
export default function ApiKeysPage() {
  const { can } = useOrg();
  return (
    <Stack gap="md">
      {can('api_keys:manage') ? (
        <ApiKeys />
      ) : (
        <>
          <Title order={1} size="h2">
            API keys
          </Title>
          <Alert color="gray" title="Your role cannot manage API keys" role="alert">
            <Text size="sm">
              Managing keys needs the api_keys:manage permission. Ask an owner or admin of this organization.
            </Text>
          </Alert>
        </>
      )}
    </Stack>
  );
}

function ApiKeys() {
  const { org } = useOrg();
  const keys = useApiKeys(org.slug);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const rows = loadedRows(keys);
  return (
    <>
      <Group justify="space-between">
        <Title order={1} size="h2">
          API keys
        </Title>
        <Button onClick={() => setCreating(true)}>New API key</Button>
      </Group>
      <Text size="sm" c="dimmed">
        Keys let programs call the API as this organization, with the scopes you give them. They belong to the
        organization, not to you: revoke the ones nobody uses.
      </Text>
      <QueryState
        query={keys}
        what="API keys"
        isEmpty={() => rows.length === 0}
        empty={
          <EmptyState title="No API keys yet">
            <Button variant="light" onClick={() => setCreating(true)}>
              Create the first key
            </Button>
          </EmptyState>
        }
      >
        {() => (
          <>
            <ApiKeysTable keys={rows} onRevoke={setRevoking} />
            <LoadMore query={keys} />
          </>
        )}
      </QueryState>
      <CreateApiKeyModal
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(k) => {
          setCreating(false);
          setCreated(k);
        }}
      />
      <SecretModal created={created} onClose={() => setCreated(null)} />
      <RevokeApiKeyModal org={org.slug} apiKey={revoking} onClose={() => setRevoking(null)} />
    </>
  );
}

function CreateApiKeyModal({
  open,
  onClose,
  onCreated,
}: {
  readonly open: boolean;
  readonly onClose: () => void;
  readonly onCreated: (k: CreatedApiKey) => void;
}) {
  const { org, can } = useOrg();
  const create = useCreateApiKey(org.slug);
  const close = () => {
    create.reset();
    onClose();
  };
  return (
    <Modal opened={open} onClose={close} title="New API key" size="lg">
      <CreateApiKeyForm
        key={String(open)}
        can={can}
        pending={create.isPending}
        error={create.error}
        onCancel={close}
        onSubmit={(input) =>
          create.mutate(input, {
            onSuccess: (k) => {
              create.reset();
              onCreated(k);
            },
          })
        }
      />
    </Modal>
  );
}
