import type { Schemas } from '../../../api/client';

export type Export = Schemas['Export'];

/** An export the job is still building: its list is polled until none is. */
export const inProgress = (e: Export) => e.status === 'queued' || e.status === 'running';

/** How often a list with an export in progress is read again. */
export const POLL_MS = 1500;

export const EXPORTS_PAGE_SIZE = 10;

/** A fresh key per click: a retry of the same click (network) replays, a new click starts anew. */
export const newIdempotencyKey = () => crypto.randomUUID();
