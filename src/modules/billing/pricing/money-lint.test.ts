import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';

/**
 * The lint rule that keeps floating point off the money path is active: the project's own ESLint
 * configuration, given code that divides, rounds or parses decimals as if it were a file of this folder,
 * reports every one; the same code outside the folder passes that rule.
 */
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const SAMPLE = `export const a = 1.5;
export const b = 10 / 3;
export let c = 9;
c /= 2;
export const d = Math.round(2);
export const e = parseFloat('1');
export const f = (3).toFixed(2);
export const g = 1e3;
export const h = 10n / 3n;
export const ok = 'a.b' + String(0x1e) + String(10_000);
`;

// Only the rule under test runs, without type information: the project's typed linting would build the whole
// program for each call (tens of seconds of CPU), and `no-restricted-syntax` reads syntax alone.
const eslint = new ESLint({
  cwd: root,
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-syntax',
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
});

async function restricted(filePath: string): Promise<number[]> {
  const [result] = await eslint.lintText(SAMPLE, { filePath: `${root}${filePath}` });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.line);
}

describe('no floating point on the money path (eslint.config.js)', () => {
  it('a file of src/modules/billing/pricing/ gets every division, Math, parseFloat, toFixed and decimal refused', async () => {
    expect(await restricted('src/modules/billing/pricing/price-invoice.ts')).toEqual([
      1, 2, 4, 5, 6, 7, 8, 9,
    ]);
  }, 60_000);

  it('integer-division.ts alone may divide (bigints), and nothing else of the list', async () => {
    expect(await restricted('src/modules/billing/pricing/integer-division.ts')).toEqual([1, 5, 6, 7, 8]);
  }, 60_000);

  it('outside the folder the rule does not apply', async () => {
    expect(await restricted('src/modules/billing/billing-period.ts')).toEqual([]);
  }, 60_000);
});
