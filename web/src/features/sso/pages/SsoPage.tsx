import { useState } from 'react';
import { Alert, Badge, Button, Code, Group, Modal, Stack, Switch, Text, Title } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { describeError } from '../../../api/errors';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { ListTable } from '../../../components/ListTable';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { HeadedSection } from '../../../components/HeadedSection';
import { useRoleName } from '../../members/components/RoleSelect';
import { useOrg } from '../../organizations/components/org-context';
import { useDeleteSsoConnection } from '../api/deleteSsoConnection';
import { useSsoConnections } from '../api/listSsoConnections';
import { useSsoSettings } from '../api/getSsoSettings';
import { useTestSsoConnection } from '../api/testSsoConnection';
import { useUpdateSsoConnection } from '../api/updateSsoConnection';
import { useUpdateSsoSettings } from '../api/updateSsoSettings';
import { ConnectionForm } from '../components/ConnectionForm';
import { DomainsSection } from '../components/DomainsSection';

type Connection = Schemas['SsoConnection'];

/** Organization settings → Single sign-on (`sso:manage`): connections, verified domains, require-SSO. */
export default function SsoPage() {
  const { can, org } = useOrg();
  return (
    <Stack gap="lg">
      <Title order={1} size="h2">
        Single sign-on
      </Title>
      {can('sso:manage') ? (
        <>
          <Connections org={org.slug} owner={org.role === 'owner'} />
          <DomainsSection org={org.slug} />
          <RequireSso org={org.slug} />
        </>
      ) : (
        <Alert color="gray" title="Your role cannot manage single sign-on" role="alert">
          <Text size="sm">Managing single sign-on needs the sso:manage permission.</Text>
        </Alert>
      )}
    </Stack>
  );
}

/**
 * A connection's IdP signs in the accounts of the verified domains, owners included: creating one and
 * changing what it trusts (and enabling one) is an owner's power, so the console offers it to owners only.
 */
function Connections({ org, owner }: { readonly org: string; readonly owner: boolean }) {
  const connections = useSsoConnections(org);
  const update = useUpdateSsoConnection(org);
  const test = useTestSsoConnection(org);
  const del = useDeleteSsoConnection(org);
  const roleName = useRoleName(org);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Connection | null>(null);
  const [deleting, setDeleting] = useState<Connection | null>(null);
  return (
    <HeadedSection id="sso-connections" title="Connections">
      {owner ? null : (
        <Alert color="gray" title="Only an owner sets up a connection" role="note">
          <Text size="sm">
            An identity provider signs in the accounts of your verified domains, owners included: only an
            owner creates a connection, changes its identity provider, client, secret, metadata or signature
            settings, or activates it. You can test, rename, change roles, deactivate and delete.
          </Text>
        </Alert>
      )}
      <Group justify="flex-end">
        <Button onClick={() => setCreating(true)} disabled={!owner}>
          New connection
        </Button>
      </Group>
      {update.error ? (
        <Text size="sm" c="red" role="alert">
          {describeError(update.error)}
        </Text>
      ) : null}
      {test.data || test.error ? (
        <Alert color={test.data?.ok ? 'green' : 'red'} title="Test connection" role="status">
          {test.data?.ok ? (
            <Text size="sm">
              {test.data.oidc
                ? `Issuer ${test.data.oidc.issuer}; signing algorithms ${test.data.oidc.idTokenSigningAlgs.join(', ')}.`
                : `Entity ${test.data.saml?.entityId}; SSO URL ${test.data.saml?.ssoUrl}; ${test.data.saml?.certificateCount} certificate(s).`}
            </Text>
          ) : (
            <Text size="sm">{test.data?.error ?? describeError(test.error)}</Text>
          )}
        </Alert>
      ) : null}
      <ListTable
        query={connections}
        what="SSO connections"
        empty={<EmptyState title="No connections yet" />}
        verticalSpacing="sm"
        rowKey={(c) => c.id}
        columns={[
          {
            header: 'Connection',
            cell: (c) => (
              <>
                <Text size="sm" fw={500}>
                  {c.name} ({c.kind.toUpperCase()})
                </Text>
                <Text size="xs" className="break-anywhere">
                  {c.oidc?.issuer ?? c.saml?.idpEntityId}
                </Text>
                <Text size="xs">
                  Default role: {roleName(c.defaultRole)}
                  {c.roleMappings.length ? ` · ${c.roleMappings.length} group mapping(s)` : ''}
                </Text>
                {c.saml ? (
                  <Stack gap={2} mt={4}>
                    <Text size="xs">
                      SP entity ID: <Code className="break-anywhere">{c.saml.spEntityId}</Code>
                    </Text>
                    <Text size="xs">
                      ACS URL: <Code className="break-anywhere">{c.saml.acsUrl}</Code>
                    </Text>
                    <Text size="xs">
                      Metadata: <Code className="break-anywhere">{c.saml.metadataUrl}</Code>
                    </Text>
                  </Stack>
                ) : null}
              </>
            ),
          },
          {
            header: 'Status',
            cell: (c) => (
              <Badge color={c.status === 'active' ? 'green' : 'gray'} variant="light">
                {c.status}
              </Badge>
            ),
          },
        ]}
        actions={(c) => (
          <Group gap="xs">
            <Button size="xs" variant="light" onClick={() => test.mutate(c.id)} loading={test.isPending}>
              Test connection
            </Button>
            <Button size="xs" variant="subtle" aria-label={`Edit ${c.name}`} onClick={() => setEditing(c)}>
              Edit
            </Button>
            <Button
              size="xs"
              variant="subtle"
              disabled={!owner && c.status !== 'active'}
              onClick={() =>
                update.mutate({
                  id: c.id,
                  body: { status: c.status === 'active' ? 'inactive' : 'active' },
                })
              }
            >
              {c.status === 'active' ? 'Deactivate' : 'Activate'}
            </Button>
            <Button size="xs" variant="subtle" color="red" onClick={() => setDeleting(c)}>
              Delete
            </Button>
          </Group>
        )}
      />
      <Modal opened={creating} onClose={() => setCreating(false)} title="New SSO connection" size="lg">
        <ConnectionForm org={org} onDone={() => setCreating(false)} />
      </Modal>
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title="Edit SSO connection" size="lg">
        {editing ? (
          <ConnectionForm
            key={editing.id}
            org={org}
            connection={editing}
            trustLocked={!owner}
            onDone={() => setEditing(null)}
          />
        ) : null}
      </Modal>
      <ConfirmDialog
        opened={deleting !== null}
        title="Delete connection"
        confirmLabel="Delete"
        mutation={del}
        onConfirm={(close) => deleting && del.mutate(deleting.id, { onSuccess: close })}
        onClose={() => setDeleting(null)}
      >
        <Text size="sm">Delete {deleting?.name}? Everyone signed in through it is signed out at once.</Text>
      </ConfirmDialog>
    </HeadedSection>
  );
}

function RequireSso({ org }: { readonly org: string }) {
  const settings = useSsoSettings(org);
  const update = useUpdateSsoSettings(org);
  return (
    <HeadedSection id="sso-require" title="Require single sign-on">
      <QueryState query={settings} what="SSO settings">
        {(s) => (
          <Stack gap="xs">
            <Switch
              label="Members must sign in with SSO (owners keep their password as a fallback)"
              checked={s.requireSso}
              disabled={update.isPending}
              onChange={(e) => update.mutate(e.currentTarget.checked)}
            />
            {update.error ? (
              <Text size="sm" c="red" role="alert">
                {describeError(update.error)}
              </Text>
            ) : null}
          </Stack>
        )}
      </QueryState>
    </HeadedSection>
  );
}
