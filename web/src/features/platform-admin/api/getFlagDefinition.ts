import { queryOptions } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { flagDefinitionsKey } from './listFlagDefinitions';

/** `GET /v1/platform/flags/{key}`: the definition as stored now (what "reload" after a conflict reads). */
export const flagDefinitionQueryOptions = (key: string) =>
  queryOptions({
    queryKey: [...flagDefinitionsKey, 'one', key] as const,
    queryFn: () => unwrap(api.GET('/v1/platform/flags/{key}', { params: { path: { key } } })),
    staleTime: 0,
  });
