import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/**
 * A software authenticator for tests: one P-256 credential (ES256), `none` attestation, a signature
 * counter, discoverable (it keeps the user handle). Produces the JSON a browser would post. Knobs let a
 * test lie about the origin, the relying party, user verification or the counter.
 */
export class SoftwareAuthenticator {
  readonly credentialId = randomBytes(16).toString('base64url');
  private readonly privateKey: KeyObject;
  private readonly cose: Uint8Array;
  counter = 0;
  userHandle: string | null = null;

  constructor(
    readonly origin: string,
    readonly rpId: string = new URL(origin).hostname,
  ) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
      ]),
    );
  }

  private authData(opts: { rpId: string; uv: boolean; attested: boolean; counter: number }): Buffer {
    const flags = 0x01 | (opts.uv ? 0x04 : 0) | (opts.attested ? 0x40 : 0);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(opts.counter);
    const parts = [createHash('sha256').update(opts.rpId).digest(), Buffer.from([flags]), count];
    if (opts.attested) {
      const id = Buffer.from(this.credentialId, 'base64url');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(id.length);
      parts.push(Buffer.alloc(16), len, id, Buffer.from(this.cose));
    }
    return Buffer.concat(parts);
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** Answers `navigator.credentials.create` options. */
  register(
    options: PublicKeyCredentialCreationOptionsJSON,
    lie: { origin?: string; rpId?: string; challenge?: string } = {},
  ): RegistrationResponseJSON {
    this.userHandle = options.user.id;
    const authData = this.authData({ rpId: lie.rpId ?? this.rpId, uv: true, attested: true, counter: 0 });
    const attestationObject = isoCBOR.encode(
      new Map<string, Parameters<typeof isoCBOR.encode>[0]>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, never>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    const clientDataJSON = this.clientData(
      'webauthn.create',
      lie.challenge ?? options.challenge,
      lie.origin ?? this.origin,
    );
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: Buffer.from(attestationObject).toString('base64url'),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** Answers `navigator.credentials.get` options (the counter moves forward unless `counter` is given). */
  assert(
    options: PublicKeyCredentialRequestOptionsJSON,
    lie: { origin?: string; rpId?: string; uv?: boolean; counter?: number; challenge?: string } = {},
  ): AuthenticationResponseJSON {
    const counter = lie.counter ?? ++this.counter;
    const authData = this.authData({
      rpId: lie.rpId ?? this.rpId,
      uv: lie.uv ?? true,
      attested: false,
      counter,
    });
    const clientDataJSON = this.clientData(
      'webauthn.get',
      lie.challenge ?? options.challenge,
      lie.origin ?? this.origin,
    );
    const hash = createHash('sha256').update(clientDataJSON).digest();
    const signature = sign('sha256', Buffer.concat([authData, hash]), this.privateKey);
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(this.userHandle ? { userHandle: this.userHandle } : {}),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
