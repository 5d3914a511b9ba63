import type { WebhookRetentionKind } from '../../platform/tenancy/privileged-retention.js';
import type { RetentionRule } from '../retention/retention.js';

/**
 * The webhooks module's retention rules (the `RetentionRule` extension point): deliveries that succeeded
 * or went dead more than `days` ago, with their attempts (the delivery log), then outbox events dispatched
 * more than `days` ago that no delivery refers to any more. In that order, so an event leaves the outbox
 * only once its deliveries have. `RETENTION_WEBHOOKS_DAYS` (docs/gdpr.md, "Retention").
 */
export function webhookRetentionRules(
  days: number,
  purge: (kind: WebhookRetentionKind, cutoff: Date, limit: number) => Promise<number>,
): RetentionRule[] {
  return [
    { kind: 'webhook_deliveries', keepDays: days, purgeBatch: (c, l) => purge('deliveries', c, l) },
    { kind: 'webhook_outbox', keepDays: days, purgeBatch: (c, l) => purge('outbox', c, l) },
  ];
}
