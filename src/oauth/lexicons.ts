// `include:<nsid>` scopes: permission sets published as lexicons. As the official does, the
// set's NSID authority is found through DNS (`_lexicon.<authority>` TXT `did=…`), the lexicon
// record (com.atproto.lexicon.schema/<nsid>) is read from that DID's PDS, and the set is
// expanded into concrete repo:/rpc: scopes (oauth-scopes' IncludeScope keeps them inside the
// set's namespace) when a token is issued. Results are kept in the official `lexicon` table;
// a stored copy is used when a refresh fails. A set published by an account hosted on this PDS
// is read from its repo here, not over HTTP (official 0.5: a PDS behind a private address, or
// in local mode, could not fetch its own records through the SSRF guard).
import { resolveTxt } from 'node:dns/promises'
import type { IncludeScope, LexiconPermissionSet } from '@atproto/oauth-scopes'
import type { CoreServices } from '../core-services.ts'
import type { DidDocument } from '../identity/did-doc.ts'
import { decodeCbor } from '../repo/cbor.ts'
import { lexToJson } from '../repo/data-model.ts'
import { getPdsEndpoint } from '../identity/did-doc.ts'
import { safeFetch } from '../identity/safe-fetch.ts'
import type { Db } from '../storage/sqlite.ts'
import { invalidScope } from './errors.ts'
import { oauthScopes } from '../auth/oauth-libs.ts'

/** How often a stored lexicon is re-fetched (the official LEXICON_REFRESH_FREQUENCY). */
export const LEXICON_REFRESH_MS = 5 * 60_000

/** Fetches a published lexicon document, or null when none can be found. */
export type LexiconFetcher = (nsid: string) => Promise<{ uri: string; lexicon: unknown } | null>

export interface LexiconFetcherOptions {
  resolveDid(did: string): Promise<DidDocument | null>
  allowPrivate?: boolean
  timeoutMs?: number
  /** DNS TXT lookup (tests). */
  resolveTxt?: (name: string) => Promise<string[][]>
  /**
   * The lexicon record of an account hosted here: undefined when the DID is not hosted here
   * (fetched over HTTP then), null when it is but has no such record (or is not active).
   */
  readLocal?: LocalLexiconReader
}

export type LocalLexiconReader = (did: string, nsid: string) => { uri: string; lexicon: unknown } | null | undefined

/** Reads `com.atproto.lexicon.schema/<nsid>` from the repo of an active account hosted here. */
export function localLexiconReader(s: Pick<CoreServices, 'accounts' | 'actors'>): LocalLexiconReader {
  return (did, nsid) => {
    const account = s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
    const store = account ? s.actors.get(did) : null
    if (!account || !store) return undefined
    if (account.takedownRef || account.deactivatedAt) return null
    const row = store.getRecord('com.atproto.lexicon.schema', nsid)
    if (!row || row.takedownRef) return null
    return { uri: row.uri, lexicon: lexToJson(decodeCbor(row.content)) }
  }
}

/** The NSID's authority as a domain name: com.example.auth.full → auth.example.com. */
export function nsidAuthorityDomain(nsid: string): string {
  return nsid.split('.').slice(0, -1).reverse().join('.')
}

export function createLexiconFetcher(opts: LexiconFetcherOptions): LexiconFetcher {
  const txt = opts.resolveTxt ?? resolveTxt
  return async (nsid) => {
    let records: string[][]
    try {
      records = await txt(`_lexicon.${nsidAuthorityDomain(nsid)}`)
    } catch {
      return null
    }
    const did = records
      .map((chunks) => chunks.join(''))
      .find((r) => r.startsWith('did='))
      ?.slice(4)
    if (!did || !did.startsWith('did:')) return null
    const local = opts.readLocal?.(did, nsid)
    if (local !== undefined) return local
    const doc = await opts.resolveDid(did).catch(() => null)
    const pds = doc ? getPdsEndpoint(doc) : undefined
    if (!pds) return null
    const url = new URL('/xrpc/com.atproto.repo.getRecord', pds)
    url.searchParams.set('repo', did)
    url.searchParams.set('collection', 'com.atproto.lexicon.schema')
    url.searchParams.set('rkey', nsid)
    try {
      const res = await safeFetch(url, {
        headers: { accept: 'application/json' },
        maxBytes: 256 * 1024,
        timeoutMs: opts.timeoutMs ?? 5_000,
        allowPrivate: opts.allowPrivate ?? false,
      })
      if (res.status !== 200) return null
      const body = res.json() as { uri?: unknown; value?: unknown }
      if (!body.value || typeof body.value !== 'object') return null
      return { uri: typeof body.uri === 'string' ? body.uri : `at://${did}/com.atproto.lexicon.schema/${nsid}`, lexicon: body.value }
    } catch {
      return null
    }
  }
}

function asPermissionSet(nsid: string, lexicon: unknown): LexiconPermissionSet {
  const doc = lexicon as { id?: unknown; defs?: { main?: { type?: unknown; permissions?: unknown } } } | null
  if (!doc || typeof doc !== 'object' || (doc.id !== undefined && doc.id !== nsid)) {
    throw invalidScope(`Could not resolve Lexicon for NSID "${nsid}"`)
  }
  const main = doc.defs?.main
  if (main?.type !== 'permission-set' || !Array.isArray(main.permissions)) {
    throw invalidScope(`Lexicon document "${nsid}" is not a permission set`)
  }
  return main as LexiconPermissionSet
}

export class PermissionSets {
  constructor(
    readonly db: Db,
    readonly fetch: LexiconFetcher,
  ) {}

  async #lexicon(nsid: string): Promise<unknown> {
    const row = this.db.prepare(`SELECT * FROM "lexicon" WHERE "nsid" = ?`).get(nsid) as
      | { createdAt: string; updatedAt: string; lastSucceededAt: string | null; uri: string | null; lexicon: string | null }
      | undefined
    const stored = row?.lexicon ? (JSON.parse(row.lexicon) as unknown) : null
    if (row && stored && Date.now() - new Date(row.updatedAt).getTime() < LEXICON_REFRESH_MS) return stored
    const result = await this.fetch(nsid).catch(() => null)
    const now = new Date().toISOString()
    this.db
      .prepare(
        `INSERT INTO "lexicon" ("nsid", "createdAt", "updatedAt", "lastSucceededAt", "uri", "lexicon") VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT ("nsid") DO UPDATE SET "updatedAt" = excluded."updatedAt", "lastSucceededAt" = excluded."lastSucceededAt", "uri" = excluded."uri", "lexicon" = excluded."lexicon"`,
      )
      .run(
        nsid,
        row?.createdAt ?? now,
        now,
        result ? now : (row?.lastSucceededAt ?? null),
        result ? result.uri : (row?.uri ?? null),
        result ? JSON.stringify(result.lexicon) : (row?.lexicon ?? null),
      )
    return result ? result.lexicon : stored
  }

  async #set(nsid: string): Promise<LexiconPermissionSet> {
    const lexicon = await this.#lexicon(nsid)
    if (!lexicon) throw invalidScope(`Could not resolve Lexicon for NSID "${nsid}"`)
    return asPermissionSet(nsid, lexicon)
  }

  /** Checks at PAR that every include: scope names a resolvable permission set (invalid_scope otherwise). */
  async check(scope: string | undefined): Promise<void> {
    for (const s of scope?.split(' ') ?? []) {
      const inc = oauthScopes().IncludeScope.fromString(s)
      if (inc) await this.#set(inc.nsid)
    }
  }

  /** The scope a token gets: include: scopes replaced by the permissions they stand for. */
  async buildTokenScope(scope: string | undefined): Promise<string | undefined> {
    if (!scope) return scope
    const includes: IncludeScope[] = []
    const others: string[] = []
    for (const s of scope.split(' ')) {
      const inc = oauthScopes().IncludeScope.fromString(s)
      if (inc) includes.push(inc)
      else others.push(s)
    }
    if (!includes.length) return scope
    const expanded: string[] = []
    for (const inc of includes) expanded.push(...inc.toScopes(await this.#set(inc.nsid)))
    return [...new Set([...expanded, ...others])].join(' ')
  }
}
