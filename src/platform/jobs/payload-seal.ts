import { hkdfSync } from 'node:crypto';
import { createSecretBox, SecretBoxError, type SecretBox } from '../crypto/secret-box.js';

/**
 * How long a sealed job payload stays worth anything: the longest link a queued job carries (an
 * invitation, valid 7 days; verification 48 h, reset 1 h). After it the worker drops the job unopened
 * and the hourly purge deletes the row, so an old ciphertext is worthless even to someone holding the KEK.
 */
export const JOB_PAYLOAD_TTL_MS = 7 * 24 * 3600_000;

/**
 * What a job row holds (graphile-worker's `payload` column). Only the tenant, the request id and the
 * expiry are in clear (the worker needs them before opening, the purge needs `exp`); everything the
 * handler receives is in `sealed` (AES-256-GCM, `v1.<iv>.<tag>.<ciphertext>`), bound to the task, the
 * tenant, the expiry and (version 2) the job key as stored (`<tenant or 'platform'>/<key>`, or none), so a
 * ciphertext moved to another job key, task, tenant or expiry does not open. Version 1 (no key bound) is
 * still opened for jobs queued before version 2 (at most {@link JOB_PAYLOAD_TTL_MS} old): nothing can
 * queue it any more (`app_enqueue_job` takes version 2 only).
 */
export interface SealedJobPayload {
  readonly v: 1 | 2;
  readonly tenantId: string | null;
  readonly requestId: string | null;
  /** Unix time (seconds) after which the payload is refused and purged. */
  readonly exp: number;
  readonly sealed: string;
}

/** A job as the handler sees it, once opened. */
export interface OpenedJob {
  readonly tenantId: string | null;
  readonly requestId: string | null;
  readonly payload: unknown;
}

/** A job payload that cannot be opened (altered, moved, sealed with another key, or not sealed at all). */
export class JobPayloadError extends Error {
  override name = 'JobPayloadError';
}

/**
 * HKDF-SHA256 of the KEK with a label of its own: the job key is never the key of any other box.
 * `previous` (KEK_PREVIOUS) still open payloads queued before a KEK rotation.
 */
export function createJobPayloadBox(kek: Buffer, previous: readonly Buffer[] = []): SecretBox {
  const derive = (k: Buffer) =>
    Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'saasready/job-payload/v1', 32));
  return createSecretBox(derive(kek), previous.map(derive));
}

let installed: SecretBox | undefined;

/**
 * Installs the key `enqueueJob` seals with (the composition does, from the process's KEK). One per
 * process: every composition of a process runs on the same secrets.
 */
export function installJobPayloadKey(kek: Buffer, previous: readonly Buffer[] = []): void {
  installed = createJobPayloadBox(kek, previous);
}

/** The installed box. @throws Error when no key was installed: queuing a job in clear is never an option. */
export function installedJobPayloadBox(): SecretBox {
  if (!installed) throw new Error('no job payload key installed (installJobPayloadKey)');
  return installed;
}

const context = (v: 1 | 2, task: string, tenantId: string | null, exp: number, key: string | null) =>
  v === 1 ? `job:${task}:${tenantId ?? '-'}:${exp}` : `job2:${task}:${tenantId ?? '-'}:${exp}:${key ?? '-'}`;

/** The job key as `app_enqueue_job` stores it: namespaced by the tenant (`platform` for none). */
export function storedJobKey(tenantId: string | null, jobKey: string | null | undefined): string | null {
  return jobKey == null ? null : `${tenantId ?? 'platform'}/${jobKey}`;
}

/** Seals a job's payload for `task` and its job key, valid until `nowMs + JOB_PAYLOAD_TTL_MS`. */
export function sealJobPayload(
  box: SecretBox,
  task: string,
  job: OpenedJob,
  nowMs = Date.now(),
  jobKey: string | null = null,
): SealedJobPayload {
  const exp = Math.floor((nowMs + JOB_PAYLOAD_TTL_MS) / 1000);
  const key = storedJobKey(job.tenantId, jobKey);
  const sealed = box.seal(JSON.stringify({ payload: job.payload }), context(2, task, job.tenantId, exp, key));
  return { v: 2, tenantId: job.tenantId, requestId: job.requestId, exp, sealed };
}

/** True when `raw` has the sealed shape (not whether it opens). */
export function isSealedJobPayload(raw: unknown): raw is SealedJobPayload {
  const p = raw as Partial<SealedJobPayload> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    (p.v === 1 || p.v === 2) &&
    (p.tenantId === null || typeof p.tenantId === 'string') &&
    (p.requestId === null || typeof p.requestId === 'string') &&
    typeof p.exp === 'number' &&
    typeof p.sealed === 'string'
  );
}

/**
 * Opens a job row's payload for `task` and the row's job key (`storedKey`: graphile-worker's `key`, as
 * stored); `'expired'` once its expiry has passed (nothing is decrypted).
 * @throws JobPayloadError when it is not a sealed payload or does not open (the message holds no data).
 */
export function openJobPayload(
  box: SecretBox,
  task: string,
  raw: unknown,
  nowMs = Date.now(),
  storedKey: string | null = null,
): OpenedJob | 'expired' {
  if (!isSealedJobPayload(raw)) throw new JobPayloadError(`job payload of ${task} is not sealed`);
  if (raw.exp * 1000 <= nowMs) return 'expired';
  let inner: { payload: unknown };
  try {
    inner = JSON.parse(
      box.open(raw.sealed, context(raw.v, task, raw.tenantId, raw.exp, storedKey)).toString('utf8'),
    ) as {
      payload: unknown;
    };
  } catch (err) {
    if (err instanceof SecretBoxError || err instanceof SyntaxError) {
      throw new JobPayloadError(`job payload of ${task} cannot be opened`);
    }
    throw err;
  }
  return { tenantId: raw.tenantId, requestId: raw.requestId, payload: inner.payload };
}
