/**
 * Hostile review: what an erased account leaves behind. The erasure test scans every table for the
 * address as text; an export archive is stored zipped (bytea chunks), where no text scan finds it.
 */
import { describe, expect, it } from 'vitest';
import type { ExportView } from '../../src/modules/gdpr/export-view.js';
import { connect, testDb } from '../support/tenancy.js';
import { unzip } from '../support/unzip.js';
import { signUp, startAppAround, type E2eApp } from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

/** The stored archive of each account export of `userId` (chunks joined), read as the superuser. */
async function storedArchives(userId: string): Promise<Buffer[]> {
  const su = await connect(testDb().adminUrl);
  try {
    const { rows } = await su.query<{ data: Buffer }>(
      `select string_agg(k.data, ''::bytea order by k.seq) as data
         from account_exports e join account_export_chunks k on k.export_id = e.id
        where e.user_id = $1 group by e.id`,
      [userId],
    );
    return rows.map((r) => r.data);
  } finally {
    await su.end();
  }
}

describe('review4: account erasure leftovers', () => {
  it("erasing an account deletes its account export archive (the person's address, sessions' IPs)", async () => {
    const u = await signUp(c, 'erase-export');
    const start = await u.browser.post('/v1/account/export');
    expect(start.statusCode, start.body).toBe(202);
    const id = start.json<ExportView>().id;
    for (let i = 0; ; i++) {
      const view = (await u.browser.get(`/v1/account/exports/${id}`)).json<ExportView>();
      if (view.status === 'ready') break;
      expect(['queued', 'running']).toContain(view.status);
      if (i > 120) throw new Error('the account export did not finish');
      await new Promise((r) => setTimeout(r, 250));
    }
    // Before: the archive holds the profile with the address.
    const before = await storedArchives(u.userId);
    expect(before).toHaveLength(1);
    expect(unzip(before[0]!).get('profile.jsonl')!.toString('utf8')).toContain(u.email);

    const erased = await u.browser.req('DELETE', '/v1/account', { password: u.password });
    expect(erased.statusCode, erased.body).toBe(204);

    // After: on main the archive stays (up to EXPORT_RETENTION_HOURS, 7 days by default, 30 at most),
    // with the erased person's address, name, session IPs and user agents in it.
    const after = await storedArchives(u.userId);
    const leftover = after.map((zip) => unzip(zip).get('profile.jsonl')!.toString('utf8'));
    expect(leftover.filter((text) => text.includes(u.email))).toEqual([]);
    expect(after).toEqual([]);
  });
});
