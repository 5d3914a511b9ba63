/**
 * Money as the server writes it on invoices and PDFs (src/modules/billing/money-format.ts): minor units
 * written with the currency's ISO 4217 digits by string arithmetic, never a float division. One
 * implementation for both, so the console shows exactly what the invoice says.
 */
import { formatMoney } from '../../../../src/modules/billing/money-format';

/** `amount` minor units of `currency` ("1,234.56 EUR"); `digits` as stored on an issued invoice. */
export function money(amount: number | string, currency: string, digits?: number): string {
  try {
    return formatMoney(amount, currency, digits);
  } catch {
    // A currency outside the table (never issued by this server): the bare minor units, unformatted.
    return `${String(amount)} ${currency} (minor units)`;
  }
}
