import { describe, expect, it } from 'vitest';
import { cookieValue, parseCookies } from './cookies.js';

describe('cookieValue', () => {
  it('answers exactly what parseCookies(header).get(name) answers', () => {
    const headers: (string | string[] | undefined)[] = [
      undefined,
      '',
      'sr_session=abc',
      ' sr_session = abc ; other=1',
      'other=1; sr_session=first; sr_session=second',
      'sr_session=bad value; sr_session=good',
      'sr_session="quoted"',
      'sr_session="',
      'sr_session=; sr_session=later',
      '=x; sr_session',
      'sr_session=a=b',
      'sr_session=\\bad; x=1',
      'xsr_session=1; sr_sessionx=2',
      ['a=1', 'sr_session=from-second-header'],
      `sr_session=${'x'.repeat(16_400)}`,
      'bad name=1; sr_session=ok',
    ];
    for (const header of headers) {
      for (const name of ['sr_session', 'other', 'bad name', 'a', 'x']) {
        expect(cookieValue(header, name)).toBe(parseCookies(header).get(name));
      }
    }
  });
});
