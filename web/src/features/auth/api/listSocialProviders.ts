import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const socialProvidersKey = ['auth', 'social-providers'] as const;

/** `GET /v1/auth/social/providers`: the sign-in providers this deployment offers (public). */
export const socialProvidersQueryOptions = () =>
  queryOptions({
    queryKey: socialProvidersKey,
    queryFn: () => unwrap(api.GET('/v1/auth/social/providers')),
    staleTime: 5 * 60_000,
  });

export const useSocialProviders = () => useQuery(socialProvidersQueryOptions());
