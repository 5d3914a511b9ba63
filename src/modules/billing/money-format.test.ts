import { describe, expect, it } from 'vitest';
import { CURRENCIES, minorUnitsOf } from './currencies.js';
import { formatMoney } from './money-format.js';
import { CurrencyCode } from './price-model.js';

describe('currencies and money formatting', () => {
  it('ISO 4217 minor units, not CLDR display digits (HUF, COP, IDR have 2; IQD 3; JPY 0)', () => {
    expect(formatMoney(123456, 'EUR')).toBe('1,234.56 EUR');
    expect(formatMoney(100, 'HUF')).toBe('1.00 HUF');
    expect(formatMoney(100, 'COP')).toBe('1.00 COP');
    expect(formatMoney(100, 'IDR')).toBe('1.00 IDR');
    expect(formatMoney(1500, 'IQD')).toBe('1.500 IQD');
    expect(formatMoney(1500, 'KWD')).toBe('1.500 KWD');
    expect(formatMoney(500, 'JPY')).toBe('500 JPY');
    expect(formatMoney(5, 'CLP')).toBe('5 CLP');
  });

  it('an issued invoice formats with the digits it stored, whatever the table says now', () => {
    expect(formatMoney(100, 'HUF', 0)).toBe('100 HUF');
  });

  it('an unknown code is refused, and the price schema lists exactly the table', () => {
    expect(() => minorUnitsOf('XXX')).toThrow(/unknown currency/);
    expect(() => formatMoney(1, 'ABC')).toThrow(/unknown currency/);
    expect((CurrencyCode as { enum?: unknown }).enum).toEqual(CURRENCIES);
    expect(CURRENCIES).toContain('USD');
    expect(CURRENCIES.every((c) => /^[A-Z]{3}$/.test(c))).toBe(true);
  });
});
