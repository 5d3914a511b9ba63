import https from 'node:https';
import { isIP } from 'node:net';
import type { CustomFetchOptions } from 'openid-client';
import type { AddressPolicy } from '../webhooks/address-policy.js';
import { AddressRefusedError, guardedLookup } from '../webhooks/webhook-http.js';

const MAX_BYTES = 1_000_000;

/**
 * A fetch for openid-client (discovery, JWKS, token endpoint) that reaches only public addresses over
 * https: an organization admin chooses the issuer, and the discovery document names the other endpoints,
 * so none of them may point into the server's own network (SSRF). The webhooks' address policy is
 * checked on the address each socket connects to; no redirects are followed; answers are capped at 1 MB.
 */
export function guardedFetch(policy: AddressPolicy) {
  return async (url: string, options: CustomFetchOptions): Promise<Response> => {
    const u = new URL(url);
    if (u.protocol !== 'https:') throw new AddressRefusedError(`${u.protocol} is not https`);
    const literal = u.hostname.replace(/^\[|\]$/g, '');
    const why = isIP(literal) !== 0 ? policy.refusal(literal) : null;
    if (why) throw new AddressRefusedError(why);
    const body =
      options.body === null || options.body === undefined
        ? undefined
        : options.body instanceof URLSearchParams
          ? options.body.toString()
          : typeof options.body === 'string'
            ? options.body
            : options.body instanceof ArrayBuffer || options.body instanceof Uint8Array
              ? Buffer.from(options.body as ArrayBuffer)
              : null;
    if (body === null) throw new TypeError('streamed request bodies are not supported');
    const agent = new https.Agent({ keepAlive: false, lookup: guardedLookup(policy) });
    try {
      return await new Promise<Response>((resolve, reject) => {
        const req = https.request(
          u,
          { method: options.method, headers: options.headers, agent, signal: options.signal },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
              if (size > MAX_BYTES) {
                res.destroy();
                reject(new Error('the answer is larger than 1 MB'));
              } else chunks.push(chunk);
            });
            res.on('end', () => {
              const headers = new Headers();
              for (const [k, v] of Object.entries(res.headers)) {
                for (const x of [v ?? []].flat()) headers.append(k, x);
              }
              const status = res.statusCode ?? 502;
              const noBody = status === 204 || status === 304;
              resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, headers }));
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    } finally {
      agent.destroy();
    }
  };
}
