import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { meKey } from '../../auth/api/me';
import { myOrganizationsKey, type MyOrganization } from '../../organizations/api/listMyOrganizations';
import { useOrg } from '../../organizations/components/org-context';
import { useLeaveOrganization } from '../api/leaveOrganization';
import { Refusal } from './Refusal';

/**
 * The signed-in user leaves the organization (confirmed), then goes to `/`. The cached organizations and
 * session forget this one BEFORE the page changes, so `/` does not send the user straight back into it
 * and the organization's pages never draw "not found" on the way out; both are then re-read.
 */
export function LeaveModal({ open, onClose }: { readonly open: boolean; readonly onClose: () => void }) {
  const { org } = useOrg();
  const leave = useLeaveOrganization(org.slug);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const left = async () => {
    qc.setQueryData<MyOrganization[]>(myOrganizationsKey, (list) => list?.filter((o) => o.id !== org.id));
    qc.setQueryData<{ currentOrganizationId: string | null } | null>(meKey, (me) =>
      me && me.currentOrganizationId === org.id ? { ...me, currentOrganizationId: null } : me,
    );
    await navigate('/', { replace: true });
    qc.removeQueries({ queryKey: ['org', org.slug] });
    await Promise.all([
      qc.invalidateQueries({ queryKey: myOrganizationsKey }),
      qc.invalidateQueries({ queryKey: meKey }),
    ]);
  };
  return (
    <ConfirmDialog
      opened={open}
      onClose={onClose}
      title="Leave organization"
      confirmLabel="Leave organization"
      mutation={leave}
      renderError={(error) => <Refusal error={error} />}
      onConfirm={() => leave.mutate(undefined, { onSuccess: () => void left() })}
    >
      Leave <strong>{org.name}</strong>? You lose access to it at once; only a new invitation brings you back.
    </ConfirmDialog>
  );
}
