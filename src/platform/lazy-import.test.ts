/**
 * Lazy imports (lazy-import.ts): every caller fails closed when its import fails (passkey assertions and
 * SAML responses refused, a Stripe process does not start, mail and archive jobs fail and are retried), and
 * a failed load is not kept (a review found it was: one transient EMFILE disabled SAML sign-in, passkeys,
 * 2FA enrolment, invoice PDFs, exports or SMTP mail on that process until it restarted).
 */
import { describe, expect, it } from 'vitest';
import { lazyImport } from './lazy-import.js';

describe('lazyImport', () => {
  it('a load that failed once is tried again on the next use', async () => {
    let calls = 0;
    const load = lazyImport(async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
      return { ok: true };
    });
    await expect(load()).rejects.toThrow(/EMFILE/);
    await expect(load()).resolves.toEqual({ ok: true });
    expect(calls).toBe(2);
  });

  it('a successful load happens once, however many callers wait for it', async () => {
    let calls = 0;
    const load = lazyImport(async () => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 5));
      return { n: calls };
    });
    const all = await Promise.all([load(), load(), load()]);
    expect(all.every((m) => m === all[0])).toBe(true);
    expect(calls).toBe(1);
  });
});
