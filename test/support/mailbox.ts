import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { poll, type ReceivedMail } from './smtp.js';

/** What global setup provides: the suite's one SMTP sink and the directory it spools messages to. */
export interface MailSink {
  readonly url: string;
  readonly dir: string;
}

/**
 * The suite's shared SMTP sink (started by global setup). Every job worker of every test process
 * delivers there: graphile-worker hands a queued mail to WHICHEVER worker polls first, so a test that
 * ran its own SMTP server could see its mail sent to another test's server.
 */
export function sharedMailbox(): {
  url: string;
  /** Every message received so far by the sink, in arrival order. */
  all: () => ReceivedMail[];
  waitFor: (pred: (m: ReceivedMail) => boolean, timeoutMs?: number) => Promise<ReceivedMail>;
} {
  const sink = inject('mail');
  const cache = new Map<string, ReceivedMail>();
  const all = () =>
    readdirSync(sink.dir)
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .sort()
      .map((f) => {
        let m = cache.get(f);
        if (!m) {
          m = JSON.parse(readFileSync(join(sink.dir, f), 'utf8')) as ReceivedMail;
          cache.set(f, m);
        }
        return m;
      });
  return { url: sink.url, all, waitFor: (pred, timeoutMs) => poll(() => all().find(pred), timeoutMs) };
}
