/** What the e2e webhook receivers record of each POST, and polling for it. */
export interface Received {
  path: string;
  id: string;
  body: string;
  headers: Record<string, string>;
  payload: { id: string; type: string; organization_id: string; data: Record<string, unknown> };
}

/** Polls `find` until it gives something (20 s at most). */
export async function until<T>(find: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const end = Date.now() + 20_000;
  for (;;) {
    const hit = await find();
    if (hit !== undefined) return hit;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
