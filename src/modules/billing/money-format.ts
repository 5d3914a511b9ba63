/**
 * Minor units shown as a decimal amount, by string (no floating point): 123456 EUR → "1,234.56 EUR",
 * 500 JPY → "500 JPY". `digits` is the currency's number of minor digits: an issued invoice passes the
 * digits it stored; by default, ISO 4217's from the static table (currencies.ts).
 */
import { minorUnitsOf } from './currencies.js';

/** `amount` minor units of `currency`, written with its minor digits and thousands separators. */
export function formatMoney(
  amount: number | bigint | string,
  currency: string,
  digits: number = minorUnitsOf(currency),
): string {
  const text = BigInt(amount).toString();
  const negative = text.startsWith('-');
  const abs = (negative ? text.slice(1) : text).padStart(digits + 1, '0');
  const whole = abs.slice(0, abs.length - digits).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const fraction = digits > 0 ? `.${abs.slice(abs.length - digits)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction} ${currency}`;
}
