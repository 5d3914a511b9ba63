/**
 * A module loaded on first use, once: for the large dependencies only some deployments or some requests
 * need (a KMS SDK, PDF rendering, SAML, archives, QR codes), so that a process does not pay their load
 * time at start, nor does every test file that builds the app.
 */
export function lazyImport<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}
