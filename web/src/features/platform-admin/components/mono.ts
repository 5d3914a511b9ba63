/** A monospace input (keys, JSON) with its label and description in the normal font. */
export const MONO = { input: { fontFamily: 'var(--mantine-font-family-monospace)' } } as const;
