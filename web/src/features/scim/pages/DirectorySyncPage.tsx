import { useState } from 'react';
import { Alert, Button, Code, CopyButton, Group, Stack, Text, Title } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { notifySuccess } from '../../../components/notify';
import { loadedRows } from '../../../lib/paging';
import { useOrg } from '../../organizations/components/org-context';
import { newIdempotencyKey } from '../../api-keys/api/createApiKey';
import { useCreateScimToken } from '../api/createScimToken';
import { useScimEvents } from '../api/listScimEvents';
import { useScimTokens } from '../api/listScimTokens';
import { useRevokeScimToken } from '../api/revokeScimToken';
import { useRotateScimToken } from '../api/rotateScimToken';
import { ScimEventsTable } from '../components/ScimEventsTable';
import { ScimSecretModal } from '../components/ScimSecretModal';
import { ScimTokensTable } from '../components/ScimTokensTable';

type ScimToken = Schemas['ScimToken'];

/** Directory sync (`sso:manage`): the SCIM base URL, tokens (secret shown once), the sync log. */
export default function DirectorySyncPage() {
  const { can } = useOrg();
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Directory sync
      </Title>
      {can('sso:manage') ? (
        <DirectorySync />
      ) : (
        <Alert color="gray" title="Your role cannot manage directory sync" role="alert">
          <Text size="sm">
            It needs the sso:manage permission. Ask an owner or admin of this organization.
          </Text>
        </Alert>
      )}
    </Stack>
  );
}

function DirectorySync() {
  const { org } = useOrg();
  const tokens = useScimTokens(org.slug);
  const events = useScimEvents(org.slug);
  const create = useCreateScimToken(org.slug);
  const rotate = useRotateScimToken(org.slug);
  const revoke = useRevokeScimToken(org.slug);
  // undefined: no dialog; null: a replay without its secret; a string: the new token.
  const [secret, setSecret] = useState<string | null | undefined>(undefined);
  const [rotating, setRotating] = useState<ScimToken | null>(null);
  const [revoking, setRevoking] = useState<ScimToken | null>(null);
  const baseUrl = `${window.location.origin}/scim/v2`;
  const rows = loadedRows(tokens);
  const log = loadedRows(events);
  const newToken = () =>
    create.mutate(newIdempotencyKey(), {
      onSuccess: (t) => {
        create.reset();
        setSecret(t.secret);
      },
    });
  return (
    <>
      <Text size="sm" c="dimmed">
        Your identity provider (Okta, Microsoft Entra ID) provisions and deprovisions this organization’s
        members over SCIM 2.0. Deactivating someone there removes them from this organization at once.
      </Text>
      <Group gap="sm" align="center" wrap="nowrap">
        <Text size="sm">SCIM base URL:</Text>
        <Code className="break-anywhere">{baseUrl}</Code>
        <CopyButton value={baseUrl}>
          {({ copied, copy }) => (
            <Button size="xs" variant="light" onClick={copy}>
              {copied ? 'Copied' : 'Copy URL'}
            </Button>
          )}
        </CopyButton>
      </Group>
      <Group justify="space-between">
        <Title order={2} size="h3">
          Tokens
        </Title>
        <Button onClick={newToken} loading={create.isPending}>
          New SCIM token
        </Button>
      </Group>
      {create.error ? (
        <Alert color="red" title="The token was not created" role="alert">
          <Text size="sm">Try again.</Text>
        </Alert>
      ) : null}
      <QueryState
        query={tokens}
        what="SCIM tokens"
        isEmpty={() => rows.length === 0}
        empty={
          <EmptyState title="No SCIM token yet">
            Create one and paste it into your identity provider.
          </EmptyState>
        }
      >
        {() => (
          <>
            <ScimTokensTable tokens={rows} onRotate={setRotating} onRevoke={setRevoking} />
            <LoadMore query={tokens} />
          </>
        )}
      </QueryState>
      <Title order={2} size="h3">
        Sync log
      </Title>
      <QueryState
        query={events}
        what="the sync log"
        isEmpty={() => log.length === 0}
        empty={<EmptyState title="No SCIM request yet" />}
      >
        {() => (
          <>
            <ScimEventsTable events={log} />
            <LoadMore query={events} />
          </>
        )}
      </QueryState>
      <ScimSecretModal secret={secret} onClose={() => setSecret(undefined)} />
      <ConfirmDialog
        opened={rotating !== null}
        onClose={() => setRotating(null)}
        title="Rotate SCIM token"
        confirmLabel="Rotate token"
        mutation={rotate}
        onConfirm={(close) =>
          rotating &&
          rotate.mutate(rotating.id, {
            onSuccess: (t) => {
              close();
              setSecret(t.secret);
            },
          })
        }
      >
        Rotate <code>scim_{rotating?.tokenId}_…</code>? A new token is shown once, and this one is refused
        from the next request on: update your identity provider right away.
      </ConfirmDialog>
      <ConfirmDialog
        opened={revoking !== null}
        onClose={() => setRevoking(null)}
        title="Revoke SCIM token"
        confirmLabel="Revoke token"
        mutation={revoke}
        onConfirm={(close) =>
          revoking &&
          revoke.mutate(revoking.id, {
            onSuccess: () => {
              notifySuccess('SCIM token revoked');
              close();
            },
          })
        }
      >
        Revoke <code>scim_{revoking?.tokenId}_…</code>? Your identity provider is refused (401) from its next
        request. This cannot be undone.
      </ConfirmDialog>
    </>
  );
}
