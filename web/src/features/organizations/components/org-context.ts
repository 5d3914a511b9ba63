import { createContext, useContext } from 'react';
import type { Permission } from '../../../../../src/platform/authz/permissions';
import type { MyOrganization } from '../api/listMyOrganizations';

/** The organization of the current `/o/:org/…` route, and what the member may do in it. */
export interface OrgContextValue {
  readonly org: MyOrganization;
  /**
   * True when the member's role holds the permission. The console hides or disables what it cannot do;
   * the server still decides every request.
   */
  readonly can: (permission: Permission) => boolean;
}

export const OrgContext = createContext<OrgContextValue | null>(null);

/** The current organization (only inside the `/o/:org` layout). */
export function useOrg(): OrgContextValue {
  const value = useContext(OrgContext);
  if (!value) throw new Error('useOrg outside an organization route');
  return value;
}
