// The client's address, as express's `trust proxy` computes it in the official PDS: the socket
// address, unless it is a trusted proxy (loopback, link-local, unique-local/private ranges, and the
// rate-limit bypass IPs), in which case X-Forwarded-For is walked from the right past every
// trusted hop. Addresses are normalized (IPv4-mapped IPv6 becomes plain IPv4), so limits and
// bypass lists see one spelling per client.
import type { IncomingMessage } from 'node:http'
import { BlockList, isIP } from 'node:net'

const DEFAULT_TRUSTED = [
  '127.0.0.0/8', // loopback
  '::1/128',
  '169.254.0.0/16', // link-local
  'fe80::/10',
  '10.0.0.0/8', // unique-local (private)
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
]

/** `::ffff:1.2.3.4` → `1.2.3.4`; lower-cases IPv6; strips an IPv6 zone. */
export function normalizeIp(addr: string): string {
  let a = addr.trim()
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1)
  const lower = a.toLowerCase()
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7)
  const zone = lower.indexOf('%')
  return zone === -1 ? lower : lower.slice(0, zone)
}

/** A set of addresses and CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`, `1.2.3.4`). */
export class IpSet {
  private readonly list = new BlockList()
  private size = 0

  constructor(entries: Iterable<string> = []) {
    for (const entry of entries) this.add(entry)
  }

  add(entry: string): void {
    const [addrRaw, bitsRaw] = entry.trim().split('/')
    const addr = normalizeIp(addrRaw)
    const family = isIP(addr)
    if (family === 0) throw new TypeError(`not an IP address or CIDR range: ${entry}`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    const bits = bitsRaw === undefined ? (family === 4 ? 32 : 128) : Number(bitsRaw)
    if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
      throw new TypeError(`not an IP address or CIDR range: ${entry}`)
    }
    this.list.addSubnet(addr, bits, type)
    this.size++
    this.seen.clear()
  }

  has(addr: string): boolean {
    if (this.size === 0) return false
    // BlockList.check builds a SocketAddress in native code on every call (~15 µs, a twentieth
    // of a getRecord); an answer per address is kept instead, a bounded few.
    const known = this.seen.get(addr)
    if (known !== undefined) return known
    const a = normalizeIp(addr)
    const family = isIP(a)
    const found = family !== 0 && this.list.check(a, family === 4 ? 'ipv4' : 'ipv6')
    if (this.seen.size >= 4096) this.seen.clear()
    this.seen.set(addr, found)
    return found
  }

  private readonly seen = new Map<string, boolean>()
}

export class ClientIpResolver {
  private readonly trusted = new IpSet()

  /** `extraTrusted`: more proxies to believe (the official PDS adds the rate-limit bypass IPs). */
  constructor(extraTrusted: Iterable<string> = []) {
    for (const range of DEFAULT_TRUSTED) this.trusted.add(range)
    for (const entry of extraTrusted) this.trusted.add(entry)
  }

  resolve(req: IncomingMessage): string {
    let addr = normalizeIp(req.socket.remoteAddress ?? '')
    if (!this.trusted.has(addr)) return addr
    const header = req.headers['x-forwarded-for']
    if (!header) return addr
    const hops = (Array.isArray(header) ? header.join(',') : header).split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].trim()
      if (hop === '') continue
      addr = normalizeIp(hop)
      if (!this.trusted.has(addr)) return addr
    }
    return addr
  }
}
