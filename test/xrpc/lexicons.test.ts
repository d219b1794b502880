import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseCid } from '../../src/repo/cid.ts'
import { BytesWrapper } from '../../src/repo/cbor.ts'
import { XrpcError } from '../../src/errors.ts'
import {
  assertValidRecord,
  assertValidXrpcInput,
  assertValidXrpcOutput,
  assertValidXrpcParams,
  encodingMatches,
  getMethodDef,
  hasRecordSchema,
  lexicons,
  parseQueryParams,
  validateQueryParams,
} from '../../src/lexicons.ts'
import { CID, DID, RAW_CID } from './fixture.ts'

function xrpcError(fn: () => unknown): XrpcError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof XrpcError, `expected an XrpcError, got ${String(err)}`)
    return err
  }
  assert.fail('expected a throw')
}

test('getMethodDef: type, verb and encodings of queries, procedures and subscriptions', () => {
  const getRecord = getMethodDef('com.atproto.repo.getRecord')
  assert.equal(getRecord?.type, 'query')
  assert.equal(getRecord?.httpMethod, 'GET')
  assert.equal(getRecord?.inputEncodings, null)
  assert.deepEqual(getRecord?.outputEncodings, ['application/json'])
  const create = getMethodDef('com.atproto.repo.createRecord')
  assert.equal(create?.httpMethod, 'POST')
  assert.equal(create?.jsonInput, true)
  const upload = getMethodDef('com.atproto.repo.uploadBlob')
  assert.deepEqual(upload?.inputEncodings, ['*/*'])
  assert.equal(upload?.jsonInput, false)
  const importRepo = getMethodDef('com.atproto.repo.importRepo')
  assert.deepEqual(importRepo?.inputEncodings, ['application/vnd.ipld.car'])
  assert.equal(getMethodDef('com.atproto.sync.subscribeRepos')?.type, 'subscription')
  assert.equal(getMethodDef('app.bsky.feed.post'), null) // a record, not a method
  assert.equal(getMethodDef('com.example.nothing'), null)
  assert.equal(getMethodDef('not an nsid'), null)
})

test('encodingMatches: exact, */* and type/* entries', () => {
  assert.ok(encodingMatches(['application/json'], 'application/json'))
  assert.ok(!encodingMatches(['application/json'], 'text/plain'))
  assert.ok(encodingMatches(['*/*'], 'image/png'))
  assert.ok(encodingMatches(['image/*'], 'image/png'))
  assert.ok(!encodingMatches(['image/*'], 'video/mp4'))
})

test('parseQueryParams: the official coercions', () => {
  const sp = new URLSearchParams('repo=a.test&collection=a.b.c&limit=12abc&reverse=yes&cursor=&extra=1')
  assert.deepEqual(parseQueryParams('com.atproto.repo.listRecords', sp), {
    repo: 'a.test',
    collection: 'a.b.c',
    limit: 12, // parseInt
    reverse: false, // only "true" is true
  })
  assert.deepEqual(parseQueryParams('com.atproto.repo.listRecords', new URLSearchParams('limit=zero')), { limit: 0 })
  assert.deepEqual(parseQueryParams('com.atproto.repo.listRecords', new URLSearchParams('reverse=true&repo=a&repo=b')), {
    reverse: true,
    repo: 'a,b',
  })
  assert.deepEqual(parseQueryParams('com.atproto.sync.getBlocks', new URLSearchParams(`cids=${CID}`)), { cids: [CID] })
  assert.deepEqual(parseQueryParams('com.atproto.sync.getBlocks', new URLSearchParams('cids=')), {})
  // Names that are Object.prototype members are not "declared".
  assert.deepEqual(parseQueryParams('com.atproto.repo.listRecords', new URLSearchParams('constructor=x&toString=y')), {})
  assert.equal(xrpcError(() => parseQueryParams('com.atproto.repo.listRecords', new URLSearchParams('__proto__=1'))).error, 'InvalidQueryParameter')
})

test('params validation: defaults applied, errors in the official shape', () => {
  assert.deepEqual(assertValidXrpcParams('com.atproto.repo.listRecords', { repo: 'a.test', collection: 'a.b.c' }), {
    repo: 'a.test',
    collection: 'a.b.c',
    limit: 50,
  })
  const missing = xrpcError(() => assertValidXrpcParams('com.atproto.repo.getRecord', { repo: 'a.test', collection: 'a.b.c' }))
  assert.equal(missing.status, 400)
  assert.equal(missing.error, 'InvalidRequest')
  assert.equal(missing.message, 'Error: Params must have the property "rkey"')
  assert.equal(
    xrpcError(() => validateQueryParams('com.atproto.repo.listRecords', new URLSearchParams('repo=a.test&collection=a.b.c&limit=0'))).message,
    'Error: limit can not be less than 1',
  )
  assert.deepEqual(validateQueryParams('com.atproto.sync.subscribeRepos', new URLSearchParams('cursor=12')), { cursor: 12 })
})

test('input validation: JSON in, JSON out (links untouched), 400 with the lexicon path', () => {
  const input = { repo: DID, collection: 'app.bsky.feed.post', record: { embed: { $link: CID } } }
  assert.equal(assertValidXrpcInput('com.atproto.repo.createRecord', input), input)
  const err = xrpcError(() => assertValidXrpcInput('com.atproto.server.createSession', { identifier: 'a', password: 3 }))
  assert.equal(err.status, 400)
  assert.equal(err.message, 'Input/password must be a string')
  // A $link that is not a CID.
  const badLink = xrpcError(() => assertValidXrpcInput('com.atproto.repo.createRecord', { ...input, swapCommit: 'x', record: { a: { $link: 'nope' } } }))
  assert.equal(badLink.status, 400)
})

test('output validation: a mismatch is a 500 with the lexicon message', () => {
  assertValidXrpcOutput('com.atproto.identity.resolveHandle', { did: DID })
  const err = xrpcError(() => assertValidXrpcOutput('com.atproto.identity.resolveHandle', { did: 'nope' }))
  assert.equal(err.status, 500)
  assert.equal(err.message, 'Output/did must be a valid did')
  // Hearth's data-model values serialize to their JSON form first.
  assertValidXrpcOutput('com.atproto.repo.getRecord', { uri: `at://${DID}/app.bsky.feed.post/3k2yihcrp6f2c`, cid: CID, value: { l: parseCid(CID) } })
})

test('record validation: JSON or data-model values, official messages', () => {
  assert.ok(hasRecordSchema('app.bsky.feed.post'))
  assert.ok(!hasRecordSchema('com.example.thing'))
  assert.ok(!hasRecordSchema('com.atproto.repo.getRecord'))
  const post = { $type: 'app.bsky.feed.post', text: 'hello', createdAt: '2024-01-01T00:00:00.000Z' }
  assertValidRecord('app.bsky.feed.post', post)
  const bad = xrpcError(() => assertValidRecord('app.bsky.feed.post', { ...post, text: 5 }))
  assert.equal(bad.status, 400)
  assert.equal(bad.message, 'Invalid app.bsky.feed.post record: Record/text must be a string')
  assert.equal(xrpcError(() => assertValidRecord('com.example.thing', post)).message, 'Lexicon not found: lex:com.example.thing')

  // A blob in JSON form and in the in-memory data model.
  const image = { $type: 'blob', ref: { $link: RAW_CID }, mimeType: 'image/png', size: 10 }
  const withImage = { ...post, embed: { $type: 'app.bsky.embed.images', images: [{ image, alt: '' }] } }
  assertValidRecord('app.bsky.feed.post', withImage)
  const inMemory = {
    ...post,
    embed: { $type: 'app.bsky.embed.images', images: [{ image: { ...image, ref: parseCid(RAW_CID) }, alt: '' }] },
  }
  assertValidRecord('app.bsky.feed.post', inMemory)
  const notBlob = { ...post, embed: { $type: 'app.bsky.embed.images', images: [{ image: { nope: 1 }, alt: '' }] } }
  assert.match(xrpcError(() => assertValidRecord('app.bsky.feed.post', notBlob)).message, /should be a blob ref/)
  // Bytes in memory.
  assertValidRecord('app.bsky.feed.post', { ...post, extra: new BytesWrapper(new Uint8Array([1])) })
})

test('params validation: the stack-trace limit it lowers is restored, and a refusal keeps its message', () => {
  const before = Error.stackTraceLimit
  assert.deepEqual(assertValidXrpcParams('com.atproto.repo.getRecord', { repo: DID, collection: 'app.bsky.feed.post', rkey: 'self' }), {
    repo: DID,
    collection: 'app.bsky.feed.post',
    rkey: 'self',
  })
  assert.equal(Error.stackTraceLimit, before)
  assert.throws(
    () => assertValidXrpcParams('com.atproto.repo.getRecord', { repo: 'not an identifier', collection: 'app.bsky.feed.post', rkey: 'self' }),
    (err: XrpcError) => err.status === 400 && /repo must be a valid did or a handle/.test(err.message),
  )
  assert.equal(Error.stackTraceLimit, before)
})

test('params validation: the fast check answers as the lexicon validator, for every method and many values', () => {
  // Each method's parameters given a valid value, an invalid one, or none, a few at a time:
  // whatever assertValidXrpcParams answers (it may take its precompiled path) must be what the
  // lexicon's own validator answers (the same value with defaults, or the same message).
  const samples: Record<string, unknown[]> = {
    string: ['did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'alice.test', 'app.bsky.feed.post', '3jzfcijpj2z2a', 'self', 'at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a', CID, 'https://example.com/x', '2024-01-02T03:04:05.000Z', 'en', 'not valid!', '.', 'did:bad', 'a'.repeat(3000), 5, true],
    integer: [1, 0, -1, 50, 100, 101, 1000, 1.5, 'x', true],
    boolean: [true, false, 'true', 1],
  }
  const validFor: Record<string, string> = {
    did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
    handle: 'alice.test',
    'at-identifier': 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
    nsid: 'app.bsky.feed.post',
    'record-key': '3jzfcijpj2z2a',
    tid: '3jzfcijpj2z2a',
    'at-uri': 'at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a',
    cid: CID,
    uri: 'https://example.com/x',
    datetime: '2024-01-02T03:04:05.000Z',
    language: 'en',
  }
  let seed = 12345
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) >> 8
  let fastCases = 0
  let compared = 0
  for (const nsid of allMethodNsids()) {
    const def = getMethodDef(nsid)
    const props = (def?.def.parameters?.properties ?? {}) as Record<string, { type: string }>
    const keys = Object.keys(props)
    for (let round = 0; round < 100; round++) {
      const params: Record<string, unknown> = {}
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k] as string
        const prop = props[key] as { type: string; format?: string }
        const pool = samples[prop.type] ?? samples.string
        // The first rounds give every parameter a valid value but one; the others, absent or
        // any sample, from a seeded generator (the same cases every run).
        if (round < 40 && k !== round % keys.length) {
          params[key] = prop.type === 'string' ? (validFor[prop.format ?? ''] ?? 'text') : pool[0]
          continue
        }
        const pick = next() % (pool.length + 2)
        if (pick < pool.length) params[key] = pool[pick]
      }
      let expected: { value: unknown } | { message: string }
      try {
        expected = { value: lexiconsValidate(nsid, params) ?? {} }
      } catch (err) {
        expected = { message: String(err) }
      }
      let actual: { value: unknown } | { message: string }
      try {
        actual = { value: assertValidXrpcParams(nsid, { ...params }) }
      } catch (err) {
        actual = { message: (err as XrpcError).message }
      }
      assert.deepEqual(actual, expected, `${nsid} ${JSON.stringify(params)}`)
      compared++
      if ('value' in expected) fastCases++
    }
  }
  assert.ok(compared > 20000, `compared ${compared}`)
  assert.ok(fastCases > 500, `accepted ${fastCases}`)
  // The reads this path is for, with their defaults applied.
  assert.deepEqual(assertValidXrpcParams('com.atproto.repo.listRecords', { repo: DID, collection: 'app.bsky.feed.post' }), {
    repo: DID,
    collection: 'app.bsky.feed.post',
    limit: 50,
  })
})

function allMethodNsids(): string[] {
  const out: string[] = []
  for (const doc of lexicons()) {
    const main = doc.defs.main
    if (main && (main.type === 'query' || main.type === 'procedure' || main.type === 'subscription')) out.push(doc.id)
  }
  return out.sort()
}

/** The lexicon's own validator, without the precompiled path in front of it. */
function lexiconsValidate(nsid: string, params: Record<string, unknown>): unknown {
  return lexicons().assertValidXrpcParams(nsid, { ...params })
}
