import createClient from 'openapi-fetch';
import { basePath } from '../lib/base-path';
import type { components, paths } from './schema';

/**
 * The one API client: typed from the server's OpenAPI document (schema.d.ts, generated at build time),
 * same origin, the HttpOnly session cookie sent with every call. The console keeps no credential itself.
 */
export const api = createClient<paths>({
  baseUrl: `${window.location.origin}${basePath}`,
  credentials: 'include',
});

export type Schemas = components['schemas'];
