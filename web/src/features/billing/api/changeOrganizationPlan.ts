import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { isApiError, unwrap } from '../../../api/errors';
import { flagsKey } from '../../flags/api/evaluateFlags';
import { billingKey } from './getOrganizationPlan';

/**
 * `PUT /v1/orgs/{org}/billing/plan` (`billing:manage`): immediate with the built-in billing provider.
 * A plan change can turn flags on (entitlements), so the flags are refreshed too, and it reprices the
 * period (proration), so the invoice preview is read again. A 409 (seats in use
 * above the plan's limit, or the plan no longer offered) refreshes the plan, so the screen shows why.
 */
export function useChangeOrganizationPlan(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (plan: string) =>
      unwrap(api.PUT('/v1/orgs/{org}/billing/plan', { params: { path: { org } }, body: { plan } })),
    onSuccess: (data) => {
      qc.setQueryData([...billingKey(org), 'plan'], data);
      void qc.invalidateQueries({ queryKey: [...billingKey(org), 'preview'] });
      void qc.invalidateQueries({ queryKey: flagsKey(org) });
    },
    onError: (err) => {
      if (isApiError(err, 409)) void qc.invalidateQueries({ queryKey: billingKey(org) });
    },
  });
}
