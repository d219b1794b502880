// Handle → DID, the two ways atproto allows: a DNS TXT record `_atproto.<handle>` holding
// `did=<did>` (exactly one such record), or `https://<handle>/.well-known/atproto-did` whose first
// line is the DID. As the official resolver, both start at once and DNS wins when it answers;
// then HTTPS; then, if configured, DNS again through the backup nameservers
// (PDS_HANDLE_BACKUP_NAMESERVERS). The answer is unverified: a caller that trusts it must still
// check that the DID's document claims the handle back.
//
// The HTTPS fetch goes to a host a user named, so it is SSRF-guarded (safe-fetch.ts), limited to
// 1 KiB and to the resolver's deadline, and follows at most a few redirects, each re-checked.
import { lookup as dnsLookup, Resolver } from 'node:dns/promises'
import { isIP } from 'node:net'
import { isValidDid, isValidHandle } from '../repo/syntax.ts'
import { DEFAULT_ID_RESOLVER_TIMEOUT_MS } from './defaults.ts'
import { type AddressResolver, safeFetch } from './safe-fetch.ts'

const SUBDOMAIN = '_atproto'
const PREFIX = 'did='
const MAX_WELL_KNOWN_BYTES = 1024
const MAX_REDIRECTS = 3

/** `dns.resolveTxt`'s shape: each record as its character-string chunks. */
export type TxtResolver = (name: string) => Promise<string[][]>

export interface HandleResolverOptions {
  /** Deadline for each method, DNS and HTTPS (default 3 s, PDS_ID_RESOLVER_TIMEOUT). */
  timeoutMs?: number
  /** Let the HTTPS method reach private and loopback addresses (local mode, tests). */
  allowPrivate?: boolean
  /** TXT lookups (default: the system's nameservers). */
  resolveTxt?: TxtResolver
  /** Nameservers (hostnames, IPs, or `ip:port`) tried when both methods fail. */
  backupNameservers?: string[]
  /** Address resolution for the HTTPS method (default: the system resolver). */
  resolveAddress?: AddressResolver
  /** Where the well-known file is fetched from (default `https://<handle>/.well-known/atproto-did`). */
  wellKnownUrl?: (handle: string) => string
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout?: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.()
      reject(new Error(`timed out after ${ms} ms`))
    }, ms)
    promise.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })
}

/** The DID in a set of TXT records: exactly one `did=` record, holding a syntactically valid DID. */
export function parseDnsTxtResult(records: string[][]): string | undefined {
  const found = records.map((chunks) => chunks.join('')).filter((r) => r.startsWith(PREFIX))
  if (found.length !== 1) return undefined
  const did = found[0].slice(PREFIX.length).trim()
  return isValidDid(did) ? did : undefined
}

export class HandleResolver {
  readonly #timeoutMs: number
  readonly #opts: HandleResolverOptions
  #backupIps: Promise<string[]> | undefined

  constructor(opts: HandleResolverOptions = {}) {
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_ID_RESOLVER_TIMEOUT_MS
    this.#opts = opts
  }

  /** The DID the handle points to, or undefined when neither method yields exactly one valid DID. */
  async resolve(handle: string): Promise<string | undefined> {
    const normalized = handle.toLowerCase()
    // Also refuses IP literals: a handle's last label may not start with a digit.
    if (!isValidHandle(normalized)) return undefined
    const httpAbort = new AbortController()
    const httpPromise = this.resolveHttp(normalized, httpAbort.signal)
    const fromDns = await this.resolveDns(normalized)
    if (fromDns) {
      httpAbort.abort()
      return fromDns
    }
    const fromHttp = await httpPromise
    if (fromHttp) return fromHttp
    return this.resolveDnsBackup(normalized)
  }

  async resolveDns(handle: string): Promise<string | undefined> {
    const name = `${SUBDOMAIN}.${handle}`
    try {
      if (this.#opts.resolveTxt) {
        return parseDnsTxtResult(await withTimeout(this.#opts.resolveTxt(name), this.#timeoutMs))
      }
      const resolver = new Resolver({ timeout: this.#timeoutMs, tries: 1 })
      return parseDnsTxtResult(await withTimeout(resolver.resolveTxt(name), this.#timeoutMs, () => resolver.cancel()))
    } catch {
      return undefined
    }
  }

  async resolveHttp(handle: string, signal?: AbortSignal): Promise<string | undefined> {
    const url = this.#opts.wellKnownUrl ? this.#opts.wellKnownUrl(handle) : `https://${handle}/.well-known/atproto-did`
    try {
      const res = await safeFetch(url, {
        timeoutMs: this.#timeoutMs,
        maxBytes: MAX_WELL_KNOWN_BYTES,
        maxRedirects: MAX_REDIRECTS,
        allowPrivate: this.#opts.allowPrivate,
        resolve: this.#opts.resolveAddress,
        headers: { accept: 'text/plain' },
        signal,
      })
      if (res.status < 200 || res.status >= 300) return undefined
      const did = res.text().split('\n')[0].trim()
      return isValidDid(did) ? did : undefined
    } catch {
      return undefined
    }
  }

  async resolveDnsBackup(handle: string): Promise<string | undefined> {
    const ips = await this.#backupNameserverIps()
    if (ips.length === 0) return undefined
    const resolver = new Resolver({ timeout: this.#timeoutMs, tries: 1 })
    try {
      resolver.setServers(ips)
      return parseDnsTxtResult(await withTimeout(resolver.resolveTxt(`${SUBDOMAIN}.${handle}`), this.#timeoutMs, () => resolver.cancel()))
    } catch {
      return undefined
    }
  }

  #backupNameserverIps(): Promise<string[]> {
    const servers = this.#opts.backupNameservers ?? []
    // Kept once some resolved; retried on the next call when none did.
    // An IP (optionally `ip:port` or `[ipv6]:port`) is used as given; a name is looked up.
    const toServer = async (s: string) => (isIP(s) || /^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):\d+$/i.test(s) ? s : (await dnsLookup(s)).address)
    this.#backupIps ??= Promise.allSettled(servers.map(toServer)).then((results) => {
      const ips = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      if (ips.length === 0) this.#backupIps = undefined
      return ips
    })
    return this.#backupIps
  }
}
