import type { KmsProvider } from './contract.js';

/** A provider that also names its current KEK: KEK rotation re-wraps every data key under another id. */
export type Kms = KmsProvider & { readonly currentKekId: string };
