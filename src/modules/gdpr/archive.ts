import { createHash } from 'node:crypto';
import { lazyImport } from '../../platform/lazy-import.js';

/** The zip writer loads with the first archive built. */
const archiver = lazyImport(() => import('archiver'));

/** One JSON Lines file of an archive, as the manifest lists it. */
export interface ManifestFile {
  readonly name: string;
  /** The table it holds (`schema.table`), or what else it is for account exports (`profile`, …). */
  readonly source: string;
  readonly rows: number;
  readonly bytes: number;
  readonly sha256: string;
  /** Columns of this table registered as holding values sealed with the organization's key, exported as stored. */
  readonly sealedColumns?: readonly string[];
  /** Columns holding credentials or their digests, whose values are replaced by `[redacted]`. */
  readonly redactedColumns?: readonly string[];
}

/** `manifest.json`, the last entry of every archive. */
export interface ExportManifest {
  readonly format: 'saasready-export';
  readonly version: 1;
  readonly kind: 'organization' | 'account';
  readonly exportId: string;
  readonly organizationId?: string;
  readonly userId?: string;
  readonly createdAt: string;
  readonly files: readonly ManifestFile[];
  readonly totalRows: number;
  /** How values sealed with an organization's data key are exported. */
  readonly sealedValues: string;
  readonly notes: readonly string[];
}

export const SEALED_VALUES_NOTE =
  'Values sealed with an organization data key (texts of the form t1.<keyVersion>.<iv>.<tag>.<ciphertext>) ' +
  'and secrets encrypted with the deployment key are exported exactly as stored: never decrypted.';

/** The export would exceed EXPORT_MAX_BYTES (uncompressed JSON Lines). */
export class ArchiveTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the export exceeds the limit of ${limit} bytes of JSON Lines (EXPORT_MAX_BYTES)`);
  }
}

/** Serializes one row as a JSON Lines line: bytea as base64 (`\\x…` hex from to_jsonb stays text). */
export const jsonLine = (row: unknown): string => `${JSON.stringify(row)}\n`;

/**
 * Collects JSON Lines files (each hashed as added), then zips them with `manifest.json` last. The sum of
 * the files' sizes is capped at `maxBytes` (checked while rows are added, so an oversized export stops
 * early instead of filling memory); the archive, compressed, is never larger than that plus its headers.
 */
export function createArchiveBuilder(maxBytes: number) {
  const files: { meta: ManifestFile; data: Buffer }[] = [];
  let total = 0;
  return {
    /** Bytes of JSON Lines so far. */
    get bytes() {
      return total;
    },
    /** Throws ArchiveTooLargeError when `more` bytes would pass the limit. */
    reserve(more: number) {
      if (total + more > maxBytes) throw new ArchiveTooLargeError(maxBytes);
      total += more;
    },
    /** Adds a finished file (its bytes already reserved line by line). */
    addFile(
      name: string,
      source: string,
      lines: readonly string[],
      columns: { sealedColumns?: readonly string[]; redactedColumns?: readonly string[] } = {},
    ) {
      const data = Buffer.from(lines.join(''), 'utf8');
      const sha256 = createHash('sha256').update(data).digest('hex');
      const { sealedColumns = [], redactedColumns = [] } = columns;
      const meta: ManifestFile = {
        name,
        source,
        rows: lines.length,
        bytes: data.length,
        sha256,
        ...(sealedColumns.length > 0 ? { sealedColumns } : {}),
        ...(redactedColumns.length > 0 ? { redactedColumns } : {}),
      };
      files.push({ meta, data });
    },
    /** The zip (the files in the order added, then `manifest.json`) and its manifest. */
    async finish(
      head: Omit<ExportManifest, 'files' | 'totalRows' | 'format' | 'version' | 'sealedValues'>,
    ): Promise<{ zip: Buffer; manifest: ExportManifest }> {
      const manifest: ExportManifest = {
        format: 'saasready-export',
        version: 1,
        ...head,
        files: files.map((f) => f.meta),
        totalRows: files.reduce((n, f) => n + f.meta.rows, 0),
        sealedValues: SEALED_VALUES_NOTE,
      };
      const { ZipArchive } = await archiver();
      const zip = new ZipArchive({ zlib: { level: 6 } });
      const chunks: Buffer[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        zip.on('data', (c: Buffer) => chunks.push(c));
        zip.on('end', () => resolve());
        zip.on('error', reject);
      });
      const date = new Date(head.createdAt);
      for (const f of files) zip.append(f.data, { name: f.meta.name, date });
      zip.append(`${JSON.stringify(manifest, null, 2)}\n`, { name: 'manifest.json', date });
      await zip.finalize();
      await ended;
      return { zip: Buffer.concat(chunks), manifest };
    },
  };
}

/** A stored archive being downloaded: its chunks are read from the database one at a time. */
export interface ArchiveDownload {
  readonly filename: string;
  /** The archive's size in bytes (`content-length`). */
  readonly size: number;
  /** The archive's chunks in order, each read when the previous one has been sent. */
  readonly chunks: AsyncIterable<Buffer>;
}

/** Raised mid-download when a chunk is gone (the archive expired or was superseded meanwhile). */
export class ArchiveGoneError extends Error {
  constructor() {
    super('the archive was removed while it was being downloaded');
  }
}

/**
 * The chunks `0 … count-1` of a stored archive, each fetched (`fetch(seq)`, its own short query) only
 * when the reader asks for it, so one chunk at a time is in memory however large the archive.
 */
export async function* storedChunks(
  count: number,
  fetch: (seq: number) => Promise<Buffer | null>,
): AsyncGenerator<Buffer> {
  for (let seq = 0; seq < count; seq++) {
    const data = await fetch(seq);
    if (!data) throw new ArchiveGoneError();
    yield data;
  }
}

/** The archive in chunks of at most `size` bytes, as stored in the database. */
export function chunksOf(zip: Buffer, size = 1_048_576): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < zip.length; at += size) out.push(zip.subarray(at, at + size));
  return out;
}
