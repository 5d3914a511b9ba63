import { BlockList, isIP } from 'node:net';

/**
 * Which addresses a webhook may be sent to (SSRF): none of the private, loopback, link-local,
 * unique-local, multicast, unspecified, CGNAT, documentation, benchmarking or reserved ranges, IPv4 and
 * IPv6 alike (the local-use NAT64 prefix `64:ff9b:1::/48` included: it may translate to any IPv4 address);
 * an IPv6 address embedding an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
 * `::ffff:0:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by that IPv4
 * address. Ranges listed in
 * WEBHOOK_ALLOWED_CIDRS are allowed anyway (a receiver on the private network, the tests' 127.0.0.1).
 */
const REFUSED_V4: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // CGNAT (shared address space)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata: 169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];
const REFUSED_V6: readonly [string, number][] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): translated to any IPv4 address, private ones included
  ['100::', 64], // discard-only
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

/** The 16 bytes of an IPv6 address, or null when it does not parse. */
function v6Bytes(address: string): number[] | null {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    if (isIP(dotted[1]!) !== 4) return null;
    tail.push(...dotted[1]!.split('.').map(Number));
    text = text.slice(0, -dotted[1]!.length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const group = (s: string) => (s === '' ? [] : s.split(':'));
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const words = 8 - tail.length / 2;
  const fill = words - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 0) return null;
  const all = [...head, ...Array<string>(fill).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const w of all) {
    if (!/^[0-9a-f]{1,4}$/.test(w)) return null;
    const n = parseInt(w, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  bytes.push(...tail);
  return bytes.length === 16 ? bytes : null;
}

/** The IPv4 address an IPv6 one embeds (mapped, translated, compatible, NAT64, 6to4), or null. */
export function embeddedIPv4(address: string): string | null {
  const b = v6Bytes(address);
  if (!b) return null;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return v4(12); // SIIT ::ffff:0:a.b.c.d
  if (zero(0, 12) && !zero(12, 16) && !(zero(12, 15) && b[15] === 1)) return v4(12); // ::a.b.c.d
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12); // NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 6to4
  return null;
}

export interface AddressPolicy {
  /** Why a connection to `address` (an IP literal) is refused, or null when it is allowed. */
  refusal(address: string): string | null;
}

/**
 * The policy: refused ranges above, except the `allowedCidrs` (`10.1.2.0/24`, `127.0.0.1/32`, `::1/128`).
 * A string that is not an IP address is refused (callers pass resolved addresses only).
 */
export function createAddressPolicy(allowedCidrs: readonly string[] = []): AddressPolicy {
  const refused = new BlockList();
  for (const [a, p] of REFUSED_V4) refused.addSubnet(a, p, 'ipv4');
  for (const [a, p] of REFUSED_V6) refused.addSubnet(a, p, 'ipv6');
  const allowed = new BlockList();
  for (const cidr of allowedCidrs) {
    const [a = '', p] = cidr.split('/');
    const family = isIP(a) === 6 ? 'ipv6' : 'ipv4';
    allowed.addSubnet(a, p === undefined ? (family === 'ipv6' ? 128 : 32) : Number(p), family);
  }
  const judge = (address: string, family: 'ipv4' | 'ipv6'): string | null => {
    if (allowed.check(address, family)) return null;
    return refused.check(address, family) ? `${address} is a private or reserved address` : null;
  };
  return {
    refusal(raw) {
      const address = raw.replace(/^\[|\]$/g, '');
      const kind = isIP(address);
      if (kind === 4) return judge(address, 'ipv4');
      if (kind !== 6) return `${raw} is not an IP address`;
      const v4 = embeddedIPv4(address);
      if (v4) {
        if (allowed.check(address, 'ipv6')) return null;
        return judge(v4, 'ipv4') && `${address} embeds the private or reserved address ${v4}`;
      }
      return judge(address, 'ipv6');
    },
  };
}
