import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../http/app-type.js';
import type { Mailer } from './mailer.js';

/**
 * `GET /dev/mailbox`: mail captured in development when no SMTP_URL is set, newest first. Registered
 * only in development without SMTP (see main.ts): it would expose every mail otherwise.
 */
export function registerDevMailboxRoutes(app: App, deps: { mailer: Mailer }): void {
  app.get(
    '/dev/mailbox',
    {
      config: { auth: { kind: 'public', reason: 'development mailbox (development without SMTP only)' } },
      schema: {
        hide: true,
        response: {
          200: Type.Array(
            Type.Object({
              id: Type.String(),
              at: Type.String(),
              to: Type.String(),
              subject: Type.String(),
              text: Type.String(),
            }),
          ),
        },
      },
    },
    async () => deps.mailer.recent().map(({ id, at, to, subject, text }) => ({ id, at, to, subject, text })),
  );
}
