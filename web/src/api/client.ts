import createClient from 'openapi-fetch';
import { basePath } from '../lib/base-path';
import type { components, paths } from './schema';
import { sessionLock } from './session-lock';

/**
 * The one API client: typed from the server's OpenAPI document (schema.d.ts, generated at build time),
 * same origin, the HttpOnly session cookie sent with every call. The console keeps no credential itself.
 */
export const api = createClient<paths>({
  baseUrl: `${window.location.origin}${basePath}`,
  credentials: 'include',
});

export type Schemas = components['schemas'];

// Calls that rotate the session cookie wait for the others and hold them back (see session-lock.ts).
api.use(sessionLock);
