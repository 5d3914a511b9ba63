/**
 * A local stand-in for AWS KMS, for tests only: the real `@aws-sdk/client-kms` is pointed at it with
 * AWS_KMS_ENDPOINT. It speaks the AWS JSON 1.1 protocol (`X-Amz-Target: TrentService.<Operation>`) for
 * the four operations SaaSReady uses: GenerateDataKey, Decrypt, Encrypt and ReEncrypt, with symmetric
 * keys it makes up per key id, encryption context bound as associated data, and AWS's error shape
 * (`__type`). It checks that each request is SigV4-signed, not the signature itself.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeKms {
  readonly url: string;
  /** Every operation served, in order (e.g. `GenerateDataKey`). */
  readonly calls: string[];
  /** Makes the next `n` requests fail with a 500 (KMSInternalException). */
  failNext(n: number): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function contextAad(ctx: unknown): Buffer {
  const entries = Object.entries((ctx ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

/** Starts the fake with the given key ids (ARNs or ids) as its symmetric keys. */
export async function startFakeKms(keyIds: readonly string[]): Promise<FakeKms> {
  const keys = new Map(keyIds.map((id) => [id, randomBytes(32)]));
  const calls: string[] = [];
  let failures = 0;

  const keyOf = (id: unknown): [string, Buffer] => {
    const key = typeof id === 'string' ? keys.get(id) : undefined;
    if (!key) throw new KmsFault('NotFoundException', `Key '${String(id)}' does not exist`);
    return [id as string, key];
  };
  const seal = (keyId: string, key: Buffer, plaintext: Buffer, ctx: unknown): Buffer => {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(contextAad(ctx));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    const id = Buffer.from(keyId, 'utf8');
    return Buffer.concat([Buffer.from([id.length >> 8, id.length & 255]), id, iv, c.getAuthTag(), ct]);
  };
  const open = (blob: Buffer, ctx: unknown, expectKeyId?: unknown): { keyId: string; plaintext: Buffer } => {
    const invalid = () => new KmsFault('InvalidCiphertextException', 'invalid ciphertext');
    if (blob.length < 2) throw invalid();
    const n = (blob[0]! << 8) | blob[1]!;
    const keyId = blob.subarray(2, 2 + n).toString('utf8');
    if (expectKeyId !== undefined && expectKeyId !== keyId) {
      throw new KmsFault('IncorrectKeyException', 'the ciphertext was not encrypted under that key');
    }
    const [, key] = keyOf(keyId);
    const rest = blob.subarray(2 + n);
    if (rest.length < 28) throw invalid();
    const d = createDecipheriv('aes-256-gcm', key, rest.subarray(0, 12));
    d.setAAD(contextAad(ctx));
    d.setAuthTag(rest.subarray(12, 28));
    try {
      return { keyId, plaintext: Buffer.concat([d.update(rest.subarray(28)), d.final()]) };
    } catch {
      throw invalid();
    }
  };
  const b64 = (v: unknown): Buffer => {
    if (typeof v !== 'string') throw new KmsFault('ValidationException', 'a blob is missing');
    return Buffer.from(v, 'base64');
  };

  const operations: Record<string, (body: Json) => Json> = {
    GenerateDataKey(body) {
      const [keyId, key] = keyOf(body.KeyId);
      const bytes =
        body.KeySpec === 'AES_256' ? 32 : body.KeySpec === 'AES_128' ? 16 : Number(body.NumberOfBytes);
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024)
        throw new KmsFault('ValidationException', 'bad KeySpec');
      const plaintext = randomBytes(bytes);
      return {
        KeyId: keyId,
        Plaintext: plaintext.toString('base64'),
        CiphertextBlob: seal(keyId, key, plaintext, body.EncryptionContext).toString('base64'),
      };
    },
    Decrypt(body) {
      const { keyId, plaintext } = open(b64(body.CiphertextBlob), body.EncryptionContext, body.KeyId);
      return {
        KeyId: keyId,
        Plaintext: plaintext.toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
    Encrypt(body) {
      const [keyId, key] = keyOf(body.KeyId);
      return {
        KeyId: keyId,
        CiphertextBlob: seal(keyId, key, b64(body.Plaintext), body.EncryptionContext).toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
    ReEncrypt(body) {
      const source = open(b64(body.CiphertextBlob), body.SourceEncryptionContext, body.SourceKeyId);
      const [keyId, key] = keyOf(body.DestinationKeyId);
      return {
        SourceKeyId: source.keyId,
        KeyId: keyId,
        CiphertextBlob: seal(keyId, key, source.plaintext, body.DestinationEncryptionContext).toString(
          'base64',
        ),
      };
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: Json, type?: string) => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': randomBytes(8).toString('hex'),
          ...(type ? { 'x-amzn-errortype': type } : {}),
        });
        res.end(JSON.stringify(body));
      };
      try {
        const target = String(req.headers['x-amz-target'] ?? '');
        const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
        const handler = operations[op];
        if (req.method !== 'POST' || !handler)
          throw new KmsFault('UnknownOperationException', 'unknown operation');
        if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
          throw new KmsFault('MissingAuthenticationTokenException', 'request is not signed', 403);
        }
        calls.push(op);
        if (failures > 0) {
          failures--;
          throw new KmsFault('KMSInternalException', 'internal error', 500);
        }
        send(200, handler(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Json));
      } catch (err) {
        const fault =
          err instanceof KmsFault ? err : new KmsFault('KMSInternalException', 'internal error', 500);
        send(fault.status, { __type: fault.type, message: fault.message }, fault.type);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext(n) {
      failures = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
