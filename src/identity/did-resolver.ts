// DID → DID document, for did:plc (through a PLC directory) and did:web
// (`https://<host>/.well-known/did.json`), validated, and cached in did_cache.sqlite with the
// official policy: a fresh entry is served; a stale one is served while it is refreshed in the
// background; an expired one is resolved again first. `refresh` and `invalidate` are for
// identity changes this PDS makes or learns about.
//
// `resolve` returns null when the DID positively does not exist, and throws when it could not
// find out (DidResolutionError, with the cause), so a caller never mistakes an outage for a
// deleted identity.
import { isValidDid } from '../repo/syntax.ts'
import type { DidCache, CacheResult } from './did-cache.ts'
import { type AtprotoData, type DidDocument, ensureAtprotoData, getSigningKey, validateDidDocument } from './did-doc.ts'
import {
  DidNotFoundError,
  DidResolutionError,
  PoorlyFormattedDidDocumentError,
  PoorlyFormattedDidError,
  UnsupportedDidMethodError,
  UnsupportedDidWebPathError,
} from './errors.ts'
import { DEFAULT_ID_RESOLVER_TIMEOUT_MS } from './defaults.ts'
import { PlcClient } from './plc-client.ts'
import { type AddressResolver, safeFetch } from './safe-fetch.ts'

/** Where did:plc documents come from: a PlcClient, the embedded directory, anything alike. */
export interface PlcDocumentSource {
  /** The document; throws DidNotFoundError for an unknown (or tombstoned) DID. */
  getDocument(did: string): Promise<unknown>
}

export interface DidResolverOptions {
  /** The PLC directory: its URL, or a source such as a PlcClient or the embedded directory. */
  plc: string | PlcDocumentSource
  /** Deadline per resolution (default 3 s, PDS_ID_RESOLVER_TIMEOUT). */
  timeoutMs?: number
  /** The document cache; without one every call resolves. */
  cache?: DidCache | null
  /** Let did:web reach private and loopback hosts (local mode, tests). */
  allowPrivate?: boolean
  /** Address resolution for did:web hosts (default: the system resolver). */
  resolveAddress?: AddressResolver
  /** Told when a background refresh fails (the stale entry stays). */
  onRefreshError?: (did: string, err: unknown) => void
}

export const DID_WEB_DOC_PATH = '/.well-known/did.json'
/** A DID document larger than this is refused (as the official resolver's fetch does). */
const MAX_DID_DOC_BYTES = 512 * 1024

export class DidResolver {
  readonly #plc: PlcDocumentSource
  readonly #timeoutMs: number
  readonly #cache: DidCache | null
  readonly #opts: DidResolverOptions
  readonly #refreshing = new Map<string, Promise<void>>()

  constructor(opts: DidResolverOptions) {
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_ID_RESOLVER_TIMEOUT_MS
    this.#plc = typeof opts.plc === 'string' ? new PlcClient({ url: opts.plc, timeoutMs: this.#timeoutMs }) : opts.plc
    this.#cache = opts.cache ?? null
    this.#opts = opts
  }

  /** Resolves without the cache: the document, null if the DID does not exist, or a throw. */
  async resolveNoCache(did: string): Promise<DidDocument | null> {
    if (!isValidDid(did)) throw new PoorlyFormattedDidError(did)
    let raw: unknown
    if (did.startsWith('did:plc:')) raw = await this.#resolvePlc(did)
    else if (did.startsWith('did:web:')) raw = await this.#resolveWeb(did)
    else throw new UnsupportedDidMethodError(did)
    if (raw === null) return null
    return validateDidDocument(did, raw)
  }

  async #resolvePlc(did: string): Promise<unknown> {
    try {
      return await this.#plc.getDocument(did)
    } catch (err) {
      if (err instanceof DidNotFoundError) return null
      throw new DidResolutionError(did, `could not resolve ${did}: ${(err as Error).message}`, { cause: err })
    }
  }

  async #resolveWeb(did: string): Promise<unknown> {
    let parts: string[]
    try {
      parts = did.slice('did:web:'.length).split(':').map(decodeURIComponent)
    } catch {
      throw new PoorlyFormattedDidError(did)
    }
    if (parts.length !== 1 || parts[0] === '') throw new UnsupportedDidWebPathError(did)
    let url: URL
    try {
      url = new URL(`https://${parts[0]}${DID_WEB_DOC_PATH}`)
    } catch {
      throw new PoorlyFormattedDidError(did)
    }
    // As @atproto/identity: did:web:localhost%3A<port> is served over plain http.
    if (url.hostname === 'localhost') url.protocol = 'http:'
    let res
    try {
      res = await safeFetch(url, {
        timeoutMs: this.#timeoutMs,
        maxBytes: MAX_DID_DOC_BYTES,
        maxRedirects: 0,
        allowPrivate: this.#opts.allowPrivate,
        resolve: this.#opts.resolveAddress,
        headers: { accept: 'application/did+ld+json,application/json' },
      })
    } catch (err) {
      throw new DidResolutionError(did, `could not resolve ${did}: ${(err as Error).message}`, { cause: err })
    }
    if (res.status < 200 || res.status >= 300) return null
    try {
      return res.json()
    } catch {
      throw new PoorlyFormattedDidDocumentError(did, 'not JSON')
    }
  }

  /** The document (through the cache), null if the DID does not exist. */
  async resolve(did: string, forceRefresh = false): Promise<DidDocument | null> {
    const cache = this.#cache
    let fromCache: CacheResult | null = null
    if (cache && !forceRefresh) {
      fromCache = cache.check(did)
      if (fromCache && !fromCache.expired) {
        if (fromCache.stale) this.#refreshInBackground(did, fromCache)
        return fromCache.doc
      }
    }
    const doc = await this.resolveNoCache(did)
    if (doc === null) {
      cache?.clear(did)
      return null
    }
    cache?.put(did, doc, fromCache ?? undefined)
    return doc
  }

  #refreshInBackground(did: string, prev: CacheResult): void {
    if (this.#refreshing.has(did)) return
    const run = (async () => {
      try {
        const doc = await this.resolveNoCache(did)
        if (doc) this.#cache?.put(did, doc, prev)
        else this.#cache?.clear(did)
      } catch (err) {
        this.#opts.onRefreshError?.(did, err)
      }
    })().finally(() => this.#refreshing.delete(did))
    this.#refreshing.set(did, run)
  }

  /** The document; throws DidNotFoundError when the DID does not exist. */
  async ensureResolve(did: string, forceRefresh = false): Promise<DidDocument> {
    const doc = await this.resolve(did, forceRefresh)
    if (doc === null) throw new DidNotFoundError(did)
    return doc
  }

  /** Handle, signing key and PDS of a DID; throws when the document lacks one of them. */
  async resolveAtprotoData(did: string, forceRefresh = false): Promise<AtprotoData> {
    return ensureAtprotoData(await this.ensureResolve(did, forceRefresh))
  }

  /** The did:key that signs for `did` (a did:key is its own key). */
  async resolveAtprotoKey(did: string, forceRefresh = false): Promise<string> {
    if (did.startsWith('did:key:')) return did
    const doc = await this.ensureResolve(did, forceRefresh)
    const key = getSigningKey(doc)
    if (!key) throw new PoorlyFormattedDidDocumentError(did, 'no usable #atproto signing key')
    return key
  }

  /** Resolves anew and rewrites the cache entry (e.g. after this PDS changed the identity). */
  refresh(did: string): Promise<DidDocument | null> {
    return this.resolve(did, true)
  }

  /** Drops the cached document, so the next resolution goes to the source. */
  invalidate(did: string): void {
    this.#cache?.clear(did)
  }

  /** Resolves once every background refresh started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#refreshing.size > 0) await Promise.allSettled([...this.#refreshing.values()])
  }
}
