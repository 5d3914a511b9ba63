import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import type { PlatformOrganization } from '../api/listPlatformOrganizations';
import { useSuspendOrganization } from '../api/suspendOrganization';
import { useUnsuspendOrganization } from '../api/unsuspendOrganization';

/** Suspending or reactivating an organization, confirmed first. */
export function SuspendModal({
  org,
  onClose,
}: {
  readonly org: PlatformOrganization | null;
  readonly onClose: () => void;
}) {
  const suspend = useSuspendOrganization();
  const unsuspend = useUnsuspendOrganization();
  const reactivating = org?.suspendedAt != null;
  const action = reactivating ? unsuspend : suspend;
  return (
    <ConfirmDialog
      opened={org !== null}
      onClose={onClose}
      title={reactivating ? 'Reactivate organization' : 'Suspend organization'}
      confirmLabel={reactivating ? 'Reactivate' : 'Suspend'}
      confirmColor={reactivating ? 'blue' : 'red'}
      mutation={{
        isPending: action.isPending,
        error: action.error,
        reset: () => {
          suspend.reset();
          unsuspend.reset();
        },
      }}
      errorTitle="That did not work"
      onConfirm={(close) =>
        org &&
        action.mutate(org.id, {
          onSuccess: () => {
            notifySuccess(`${org.name} ${reactivating ? 'reactivated' : 'suspended'}`);
            close();
          },
        })
      }
    >
      {!org ? null : reactivating ? (
        <>
          Reactivate <strong>{org.name}</strong>? Its members and API keys work again from their next request.
        </>
      ) : (
        <>
          Suspend <strong>{org.name}</strong>? From their next request its {org.members} member
          {org.members === 1 ? '' : 's'} and its API keys are refused with “this organization is suspended”.
          Nothing is deleted, and you can reactivate it at any time. The change is recorded in the
          organization’s audit log.
        </>
      )}
    </ConfirmDialog>
  );
}
