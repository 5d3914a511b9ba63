/**
 * A module loaded on first use, once: for the large dependencies only some deployments or some requests
 * need (a KMS SDK, PDF rendering, SAML, archives, QR codes), so that a process does not pay their load
 * time at start, nor does every test file that builds the app.
 * A load that fails (a transient EMFILE, say) is not kept: the callers waiting on it get its error and
 * the next call loads again, so one failure does not disable a feature until the process restarts.
 */
export function lazyImport<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    if (loaded) return loaded;
    const attempt = load();
    loaded = attempt;
    attempt.catch(() => {
      if (loaded === attempt) loaded = undefined;
    });
    return attempt;
  };
}
