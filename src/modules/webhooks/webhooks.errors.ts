import { AppError } from '../../platform/errors.js';

export type WebhooksErrorCode =
  | 'WEBHOOK_ENDPOINT_NOT_FOUND'
  | 'WEBHOOK_DELIVERY_NOT_FOUND'
  | 'WEBHOOK_URL_INVALID'
  | 'WEBHOOK_URL_NOT_ALLOWED'
  | 'WEBHOOK_EVENT_TYPES_INVALID'
  | 'WEBHOOK_ENDPOINT_DISABLED'
  | 'WEBHOOK_ENDPOINT_LIMIT';

const STATUS: Record<WebhooksErrorCode, number> = {
  WEBHOOK_ENDPOINT_NOT_FOUND: 404,
  WEBHOOK_DELIVERY_NOT_FOUND: 404,
  WEBHOOK_URL_INVALID: 400,
  WEBHOOK_URL_NOT_ALLOWED: 400,
  WEBHOOK_EVENT_TYPES_INVALID: 400,
  WEBHOOK_ENDPOINT_DISABLED: 409,
  WEBHOOK_ENDPOINT_LIMIT: 409,
};

/** Errors of the webhooks module. */
export class WebhooksError extends AppError<WebhooksErrorCode> {
  constructor(code: WebhooksErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** The one answer for an endpoint that does not exist in the caller's organization, whoever owns it. */
export const endpointNotFound = () =>
  new WebhooksError('WEBHOOK_ENDPOINT_NOT_FOUND', 'webhook endpoint not found');

/** The same for a delivery. */
export const deliveryNotFound = () =>
  new WebhooksError('WEBHOOK_DELIVERY_NOT_FOUND', 'webhook delivery not found');
