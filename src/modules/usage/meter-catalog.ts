import type { MeterDef } from './usage-model.js';

/** The meter catalog as ingestion reads it: in memory, reloaded after `ttlMs` and on an unknown key. */
export interface MeterCatalog {
  /** The meter, or null when none has that key (after a reload, unless the catalog was loaded less than
   *  a second ago, so a meter created a moment ago on another instance is found). May answer
   *  synchronously (the common case). */
  get(key: string): MeterDef | null | Promise<MeterDef | null>;
  /** Drops the loaded catalog (after a change on this instance). */
  forget(): void;
}

export function createMeterCatalog(deps: {
  load: () => Promise<MeterDef[]>;
  ttlMs?: number;
  now?: () => number;
}): MeterCatalog {
  const ttl = deps.ttlMs ?? 10_000;
  const now = deps.now ?? Date.now;
  let meters: Map<string, MeterDef> | null = null;
  let loadedAt = 0;
  let inflight: Promise<Map<string, MeterDef>> | null = null;
  let generation = 0;

  const reload = (): Promise<Map<string, MeterDef>> => {
    if (inflight) return inflight;
    const gen = generation;
    const p = deps
      .load()
      .then((list) => {
        const map = new Map(list.map((m) => [m.key, m]));
        if (gen === generation) {
          meters = map;
          loadedAt = now();
        }
        return map;
      })
      .finally(() => {
        inflight = null;
      });
    inflight = p;
    return p;
  };

  return {
    get(key) {
      if (meters && now() - loadedAt < ttl) {
        const m = meters.get(key);
        if (m) return m;
        // Loaded less than a second ago: an unknown key stays unknown (no reload per batch of typos).
        if (now() - loadedAt < 1000) return null;
      }
      return reload().then((map) => map.get(key) ?? null);
    },
    forget() {
      generation++;
      meters = null;
    },
  };
}
