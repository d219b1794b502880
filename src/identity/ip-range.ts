// Which IP addresses a server may be sent to on a user's say-so: public unicast only. Everything
// private, loopback, link-local, multicast, reserved or for documentation is refused, and so are
// IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4) when the IPv4 address inside is.
import { isIPv4, isIPv6 } from 'node:net'

function parseIPv4(addr: string): Uint8Array | null {
  if (!isIPv4(addr)) return null
  return Uint8Array.from(addr.split('.').map(Number))
}

/** The 16 bytes of an IPv6 address (zone id ignored), or null when it is not one. */
export function parseIPv6(addr: string): Uint8Array | null {
  const bare = addr.replace(/^\[|\]$/g, '').split('%')[0]
  if (!isIPv6(bare)) return null
  let text = bare
  // A dotted IPv4 tail becomes its two 16-bit groups.
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail)
    if (!v4) return null
    text = `${text.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const groupsOf = (s: string) => (s === '' ? [] : s.split(':'))
  const head = groupsOf(halves[0])
  const rest = halves.length === 2 ? groupsOf(halves[1]) : []
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0
  const groups = [...head, ...Array<string>(fill).fill('0'), ...rest]
  if (groups.length !== 8) return null
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    const g = Number.parseInt(groups[i], 16)
    if (!/^[0-9a-f]{1,4}$/i.test(groups[i]) || Number.isNaN(g)) return null
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xff
  }
  return out
}

function inPrefix(bytes: Uint8Array, prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3
    const mask = 0x80 >> (i & 7)
    if ((bytes[byte] & mask) !== ((prefix[byte] ?? 0) & mask)) return false
  }
  return true
}

// [prefix bytes, prefix length] of every IPv4 range that is not public unicast (RFC 6890 and
// successors: this network, private, shared CGNAT, loopback, link-local, IETF protocol
// assignments, documentation, 6to4 relay anycast, benchmarking, multicast, reserved, broadcast).
const IPV4_BLOCKED: Array<[number[], number]> = [
  [[0], 8],
  [[10], 8],
  [[100, 64], 10],
  [[127], 8],
  [[169, 254], 16],
  [[172, 16], 12],
  [[192, 0, 0], 24],
  [[192, 0, 2], 24],
  [[192, 88, 99], 24],
  [[192, 168], 16],
  [[198, 18], 15],
  [[198, 51, 100], 24],
  [[203, 0, 113], 24],
  [[224], 4],
  [[240], 4],
]

function isPublicIPv4(b: Uint8Array): boolean {
  return !IPV4_BLOCKED.some(([prefix, bits]) => inPrefix(b, prefix, bits))
}

const IPV6_BLOCKED: Array<[number[], number]> = [
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48], // NAT64 local-use
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64], // discard-only
  [[0x20, 0x01, 0x00], 23], // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
  [[0x20, 0x01, 0x0d, 0xb8], 32], // documentation
  [[0x3f, 0xff, 0x00], 20], // documentation (RFC 9637)
  [[0xfc], 7], // unique local
  [[0xfe, 0x80], 10], // link-local
  [[0xfe, 0xc0], 10], // site-local (deprecated)
  [[0xff], 8], // multicast
]

function isPublicIPv6(b: Uint8Array): boolean {
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d): judge the IPv4 address inside.
  if (inPrefix(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96)) return isPublicIPv4(b.subarray(12))
  if (inPrefix(b, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) return isPublicIPv4(b.subarray(12))
  // 6to4 (2002:a.b.c.d::/48) reaches the IPv4 address it embeds.
  if (inPrefix(b, [0x20, 0x02], 16)) return isPublicIPv4(b.subarray(2, 6))
  if (IPV6_BLOCKED.some(([prefix, bits]) => inPrefix(b, prefix, bits))) return false
  // Global unicast is 2000::/3; everything else (::, ::1, IPv4-compatible, reserved) is not.
  return inPrefix(b, [0x20], 3)
}

/** True only for a public unicast IPv4 or IPv6 address; false for anything else, or not an IP. */
export function isPublicAddress(addr: string): boolean {
  const v4 = parseIPv4(addr)
  if (v4) return isPublicIPv4(v4)
  const v6 = parseIPv6(addr)
  if (v6) return isPublicIPv6(v6)
  return false
}

// Never a destination, whatever the settings: "this host" (0.0.0.0/8, which Linux connects to
// the machine itself on any port), multicast, and 240.0.0.0/4 with the limited broadcast
// 255.255.255.255; in IPv6 the unspecified address :: and multicast ff00::/8.
const IPV4_NOT_UNICAST: Array<[number[], number]> = [
  [[0], 8],
  [[224], 4],
  [[240], 4],
]

function isUnicastIPv4(b: Uint8Array): boolean {
  return !IPV4_NOT_UNICAST.some(([prefix, bits]) => inPrefix(b, prefix, bits))
}

function isUnicastIPv6(b: Uint8Array): boolean {
  if (b.every((x) => x === 0)) return false
  if (b[0] === 0xff) return false
  // IPv4-mapped and NAT64 forms reach the IPv4 address inside.
  if (inPrefix(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96)) return isUnicastIPv4(b.subarray(12))
  if (inPrefix(b, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) return isUnicastIPv4(b.subarray(12))
  return true
}

/**
 * True for a unicast IPv4 or IPv6 address, public or not (loopback and private included); false
 * for "any address", multicast, broadcast, or not an IP. The floor under every relaxation of
 * the SSRF rules (dev mode, disabled protection, an operator's allowed addresses).
 */
export function isUnicastAddress(addr: string): boolean {
  const v4 = parseIPv4(addr)
  if (v4) return isUnicastIPv4(v4)
  const v6 = parseIPv6(addr)
  if (v6) return isUnicastIPv6(v6)
  return false
}
