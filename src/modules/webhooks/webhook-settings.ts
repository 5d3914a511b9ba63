import { DEFAULT_RETRY_SCHEDULE, type WebhookConfig } from '../../platform/config-webhooks.js';
import { createAddressPolicy } from './address-policy.js';
import type { WebhookSettings } from './webhook-delivery.js';

/** The delivery settings from the WEBHOOK_* configuration (defaults for anything not given). */
export function webhookSettings(config: Partial<WebhookConfig> = {}): WebhookSettings {
  return {
    policy: createAddressPolicy(config.allowedCidrs ?? []),
    allowHttp: config.allowHttp ?? false,
    retryScheduleSeconds: config.retryScheduleSeconds ?? DEFAULT_RETRY_SCHEDULE,
    timeoutMs: config.timeoutMs ?? 10_000,
    disableAfterDays: config.disableAfterDays ?? 5,
    secretOverlapSeconds: (config.secretOverlapHours ?? 24) * 3600,
  };
}

/**
 * How many webhook POSTs run at once, on the webhook deliveries' own job runner (src/app/compose/jobs.ts). They
 * mostly wait on the network, so more than the main runner's 2; a separate runner so that slow receivers
 * delay only webhooks, never mails or exports.
 */
export const WEBHOOK_WORKER_CONCURRENCY = 8;
