import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { DID_CACHE_MAX_TTL_MS, DID_CACHE_STALE_TTL_MS, DidCache } from '../../src/identity/did-cache.ts'
import type { DidDocument } from '../../src/identity/did-doc.ts'
import { DidResolver, type PlcDocumentSource } from '../../src/identity/did-resolver.ts'
import {
  DidNotFoundError,
  DidResolutionError,
  PoorlyFormattedDidDocumentError,
  PoorlyFormattedDidError,
  UnsupportedDidMethodError,
  UnsupportedDidWebPathError,
} from '../../src/identity/errors.ts'
import { SafeFetchError, SsrfError } from '../../src/identity/safe-fetch.ts'
import { startServer, tempDir } from './helpers.ts'

const key = Secp256k1Keypair.create()

function webDoc(did: string, handle = 'web.example'): DidDocument {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    alsoKnownAs: [`at://${handle}`],
    verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: key.did().slice(8) }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'http://localhost:2583' }],
  }
}

test('did:web on localhost:<port> is fetched over http from /.well-known/did.json', async () => {
  const requests: Array<{ url?: string; host?: string; accept?: string }> = []
  let body: unknown = null
  let status = 200
  const server = await startServer((req, res) => {
    requests.push({ url: req.url, host: req.headers.host, accept: req.headers.accept })
    if (status === 302) {
      res.writeHead(302, { location: '/elsewhere' }).end()
      return
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body))
  })
  try {
    const did = `did:web:localhost%3A${server.port}`
    body = webDoc(did)
    const resolver = new DidResolver({ plc: 'http://127.0.0.1:9', allowPrivate: true })
    assert.deepEqual(await resolver.resolve(did), webDoc(did))
    assert.deepEqual(await resolver.resolveAtprotoData(did), { did, signingKey: key.did(), handle: 'web.example', pds: 'http://localhost:2583' })
    assert.equal(requests[0].url, '/.well-known/did.json')
    assert.equal(requests[0].host, `localhost:${server.port}`)
    assert.equal(requests[0].accept, 'application/did+ld+json,application/json')

    // Loopback is refused unless allowed.
    const strict = new DidResolver({ plc: 'http://127.0.0.1:9' })
    const n = requests.length
    await assert.rejects(strict.resolve(did), (e: unknown) => e instanceof DidResolutionError && e.cause instanceof SsrfError)
    assert.equal(requests.length, n, 'no request was made')

    // A document for another DID is refused; a missing one is "not found".
    body = webDoc('did:web:someone.else')
    await assert.rejects(resolver.resolve(did), PoorlyFormattedDidDocumentError)
    body = 'not json'
    await assert.rejects(resolver.resolve(did), PoorlyFormattedDidDocumentError)
    status = 404
    assert.equal(await resolver.resolve(did), null)
    await assert.rejects(resolver.ensureResolve(did), DidNotFoundError)
    // Redirects are not followed for DID documents.
    status = 302
    await assert.rejects(resolver.resolve(did), (e: unknown) => e instanceof DidResolutionError && e.cause instanceof SafeFetchError && e.cause.code === 'REDIRECT')
  } finally {
    await server.close()
  }
})

test('did:web with a path, unknown methods and malformed DIDs are refused', async () => {
  const resolver = new DidResolver({ plc: 'http://127.0.0.1:9' })
  await assert.rejects(resolver.resolve('did:web:example.com:user:alice'), UnsupportedDidWebPathError)
  await assert.rejects(resolver.resolve('did:key:zQ3shXzUpFmYgBTrKuTXwkNEXR4CvmgGJ2KJYLgUyvPpF94LS'), UnsupportedDidMethodError)
  await assert.rejects(resolver.resolve('did:example:123'), UnsupportedDidMethodError)
  await assert.rejects(resolver.resolve('not a did'), PoorlyFormattedDidError)
  // A did:key is its own signing key.
  const dk = key.did()
  assert.equal(await resolver.resolveAtprotoKey(dk), dk)
})

/** A PLC source whose answers and call count the test controls. */
function fakePlc(): PlcDocumentSource & { calls: number; doc: DidDocument | null; fail: boolean; gate?: Promise<void> } {
  const src = {
    calls: 0,
    doc: null as DidDocument | null,
    fail: false,
    gate: undefined as Promise<void> | undefined,
    async getDocument(did: string): Promise<unknown> {
      src.calls++
      if (src.gate) await src.gate
      if (src.fail) throw new Error('directory down')
      if (!src.doc) throw new DidNotFoundError(did)
      return src.doc
    },
  }
  return src
}

const PLC_DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const plcDoc = (handle: string) => webDoc(PLC_DID, handle)

test('cache: fresh served, stale served while refreshed in the background, expired resolved first', async () => {
  const tmp = tempDir('hearth-did-cache-')
  let now = 1_700_000_000_000
  const cache = DidCache.open(join(tmp.dir, 'did_cache.sqlite'), { now: () => now })
  try {
    const src = fakePlc()
    const errors: unknown[] = []
    const resolver = new DidResolver({ plc: src, cache, onRefreshError: (_did, err) => errors.push(err) })
    src.doc = plcDoc('v1.test')
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'v1.test')
    assert.equal(src.calls, 1)

    // Fresh: from the cache.
    src.doc = plcDoc('v2.test')
    now += DID_CACHE_STALE_TTL_MS - 1
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'v1.test')
    assert.equal(src.calls, 1)

    // Stale: the old document at once, one background refresh however many callers.
    now += 2
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'v1.test')
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'v1.test')
    await resolver.idle()
    assert.equal(src.calls, 2)
    const refreshed = cache.check(PLC_DID)
    assert.equal(getHandle(refreshed?.doc ?? null), 'v2.test')
    assert.equal(refreshed?.updatedAt, now)
    assert.equal(refreshed?.stale, false)
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'v2.test')
    assert.equal(src.calls, 2)

    // A failed background refresh keeps the stale entry and reports the error.
    now += DID_CACHE_STALE_TTL_MS + 1
    src.fail = true
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'v2.test')
    await resolver.idle()
    assert.equal(errors.length, 1)
    assert.equal(getHandle(cache.check(PLC_DID)?.doc ?? null), 'v2.test')

    // Expired: resolved before answering; an outage is then an error, not a stale answer.
    now += DID_CACHE_MAX_TTL_MS
    assert.equal(cache.check(PLC_DID)?.expired, true)
    await assert.rejects(resolver.resolve(PLC_DID), DidResolutionError)
    src.fail = false
    src.doc = plcDoc('v3.test')
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'v3.test')
    assert.equal(cache.check(PLC_DID)?.expired, false)

    // Gone at the source: the entry is dropped.
    src.doc = null
    assert.equal(await resolver.refresh(PLC_DID), null)
    assert.equal(cache.check(PLC_DID), null)
  } finally {
    cache.close()
    tmp.cleanup()
  }
})

test('cache: an invalidation during a background refresh is not undone by it', async () => {
  const tmp = tempDir('hearth-did-cache-')
  let now = 1_700_000_000_000
  const cache = DidCache.open(join(tmp.dir, 'did_cache.sqlite'), { now: () => now })
  try {
    const src = fakePlc()
    const resolver = new DidResolver({ plc: src, cache })
    src.doc = plcDoc('old.test')
    await resolver.resolve(PLC_DID)
    now += DID_CACHE_STALE_TTL_MS + 1
    let release!: () => void
    src.gate = new Promise<void>((r) => (release = r))
    src.doc = plcDoc('racing.test')
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'old.test') // starts the refresh, which waits
    resolver.invalidate(PLC_DID)
    release()
    await resolver.idle()
    assert.equal(cache.check(PLC_DID), null, 'the refresh only replaces the entry it started from')
    src.gate = undefined
    src.doc = plcDoc('new.test')
    assert.equal(getHandle(await resolver.resolve(PLC_DID)), 'new.test')
  } finally {
    cache.close()
    tmp.cleanup()
  }
})

test('cache file: the official schema and migration name, readable after reopening', () => {
  const tmp = tempDir('hearth-did-cache-')
  try {
    const path = join(tmp.dir, 'did_cache.sqlite')
    const cache = DidCache.open(path, { now: () => 1234 })
    cache.put(PLC_DID, plcDoc('a.test'))
    cache.close()
    const db = openDb(path)
    assert.deepEqual(db.prepare(`SELECT name FROM kysely_migration`).all(), [{ name: '001' }])
    assert.deepEqual(
      (db.prepare(`PRAGMA table_info("did_doc")`).all() as Array<{ name: string; type: string; notnull: number; pk: number }>).map((c) => [c.name, c.type.toLowerCase(), c.notnull, c.pk]),
      [
        ['did', 'varchar', 0, 1],
        ['doc', 'text', 1, 0],
        ['updatedAt', 'bigint', 1, 0],
      ],
    )
    assert.deepEqual(db.prepare(`SELECT did, doc, updatedAt FROM did_doc`).all(), [{ did: PLC_DID, doc: JSON.stringify(plcDoc('a.test')), updatedAt: 1234 }])
    // A row the official PDS wrote (same shape) is read back; a corrupt one is a miss.
    db.prepare(`INSERT INTO did_doc (did, doc, updatedAt) VALUES (?, ?, ?)`).run('did:plc:corrupt', '{not json', 1)
    db.close()
    const reopened = DidCache.open(path, { now: () => 1234 + DID_CACHE_STALE_TTL_MS + 1 })
    const hit = reopened.check(PLC_DID)
    assert.equal(hit?.stale, true)
    assert.equal(hit?.expired, false)
    assert.deepEqual(hit?.doc, plcDoc('a.test'))
    assert.equal(reopened.check('did:plc:corrupt'), null)
    reopened.clearAll()
    assert.equal(reopened.check(PLC_DID), null)
    reopened.close()
  } finally {
    tmp.cleanup()
  }
})

function getHandle(doc: DidDocument | null): string | undefined {
  return doc?.alsoKnownAs?.[0]?.slice('at://'.length)
}
