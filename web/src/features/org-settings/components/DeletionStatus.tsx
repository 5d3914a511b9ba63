import { Alert, Button, Stack, Text } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';
import { useCancelOrganizationDeletion } from '../../organizations/api/cancelOrganizationDeletion';
import { useOrganization } from '../../organizations/api/getOrganization';
import { useOrg } from '../../organizations/components/org-context';

/** When the deletion of a pending organization is due, as the reader's clock shows it. */
export const dueText = (iso: string) =>
  new Date(iso).toLocaleString(undefined, { dateStyle: 'long', timeStyle: 'short' });

/**
 * The deletion status of the organization (settings): nothing while it is active; when its deletion is
 * scheduled, the due date, what read-only means, and for owners (`org:delete`) the cancel button.
 */
export function DeletionStatus() {
  const { org, can } = useOrg();
  const current = useOrganization(org.slug);
  const cancel = useCancelOrganizationDeletion(org.slug);
  const o = current.data;
  if (!o || o.lifecycleState !== 'pending_deletion' || !o.deletionDueAt) return null;
  return (
    <Alert color="red" title="This organization is scheduled for deletion" component="section">
      <Stack gap="sm" align="flex-start">
        <Text size="sm">
          {o.name} and all its data will be deleted for good on <strong>{dueText(o.deletionDueAt)}</strong>.
          Until then it is read-only: members can look at everything and export it, but nothing can be
          changed.
        </Text>
        {can('org:delete') ? (
          <>
            <Button
              color="red"
              variant="white"
              loading={cancel.isPending}
              onClick={() =>
                cancel.mutate(undefined, { onSuccess: () => notifySuccess(`${o.name} will not be deleted`) })
              }
            >
              Cancel the deletion
            </Button>
            {cancel.error ? (
              <Text size="sm" role="alert">
                {describeError(cancel.error)}
              </Text>
            ) : null}
          </>
        ) : (
          <Text size="sm">Only an owner can cancel the deletion.</Text>
        )}
      </Stack>
    </Alert>
  );
}
