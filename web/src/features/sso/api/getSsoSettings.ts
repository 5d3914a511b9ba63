import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { ssoKey } from './listSsoConnections';

export const settingsKey = (org: string) => [...ssoKey(org), 'settings'] as const;

/** `GET /v1/orgs/{org}/sso/settings`: require-SSO. */
export const ssoSettingsQueryOptions = (org: string) =>
  queryOptions({
    queryKey: settingsKey(org),
    queryFn: () => unwrap(api.GET('/v1/orgs/{org}/sso/settings', { params: { path: { org } } })),
  });

export const useSsoSettings = (org: string) => useQuery(ssoSettingsQueryOptions(org));
