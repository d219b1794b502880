// Records and preferences nest at most 128 levels. Deeper ones are refused with 400 by every
// method that takes them (they used to answer 500 from a few thousand levels, or be stored and
// then break getRecord and listRecords of their collection for everyone); one at the limit is
// stored and reads back whole. An import carrying a record block nested far deeper is refused.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { deepRecordBytes, repoCar } from '../../helpers/repo-car.ts'

const LIMIT = 128
const COLLECTION = 'com.example.deep'

let pds: TestPds
let did: string
let token: string

before(async () => {
  pds = await startTestPds()
  const account = await pds.createAccount('deep')
  did = account.did
  token = account.agent.session?.accessJwt as string
})

after(async () => {
  await pds?.close()
})

/** JSON text of a map `depth` levels deep counting itself: `{"$type":…,"v":{"a":{"a":…1}}}`. */
function deepJson(type: string, depth: number): string {
  const n = depth - 1
  return `{"$type":"${type}","v":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`
}

/** How deep a parsed record (as above) nests, counting itself. */
function depthOf(record: unknown): number {
  let depth = 1
  let v = (record as { v: unknown }).v
  while (typeof v === 'object' && v !== null) {
    depth++
    v = (v as { a: unknown }).a
  }
  return depth
}

async function call(nsid: string, body?: string, query?: Record<string, string>): Promise<{ status: number; json: any }> {
  const url = new URL(`/xrpc/${nsid}`, pds.url)
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v)
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body,
  })
  const text = await res.text()
  // JSON.parse copes with any depth; only the test's own walk (depthOf) must stay shallow.
  return { status: res.status, json: text ? JSON.parse(text) : null }
}

const writes: Record<string, (record: string, rkey: string) => Promise<{ status: number; json: any }>> = {
  createRecord: (record, rkey) => call('com.atproto.repo.createRecord', `{"repo":"${did}","collection":"${COLLECTION}","rkey":"${rkey}","record":${record}}`),
  putRecord: (record, rkey) => call('com.atproto.repo.putRecord', `{"repo":"${did}","collection":"${COLLECTION}","rkey":"${rkey}","record":${record}}`),
  'applyWrites create': (record, rkey) =>
    call(
      'com.atproto.repo.applyWrites',
      `{"repo":"${did}","writes":[{"$type":"com.atproto.repo.applyWrites#create","collection":"${COLLECTION}","rkey":"${rkey}","value":${record}}]}`,
    ),
  'applyWrites update': (record, rkey) =>
    call(
      'com.atproto.repo.applyWrites',
      `{"repo":"${did}","writes":[{"$type":"com.atproto.repo.applyWrites#update","collection":"${COLLECTION}","rkey":"${rkey}","value":${record}}]}`,
    ),
}

async function assertHealthy(): Promise<void> {
  const health = await fetch(new URL('/xrpc/_health', pds.url))
  assert.equal(health.status, 200)
  const list = await call('com.atproto.repo.listRecords', undefined, { repo: did, collection: COLLECTION, limit: '100' })
  assert.equal(list.status, 200, JSON.stringify(list.json))
}

describe('records', () => {
  for (const [name, write] of Object.entries(writes)) {
    test(`${name}: ${LIMIT + 1} and 10,000 levels are refused with 400 naming the limit`, async () => {
      for (const depth of [LIMIT + 1, 10_000]) {
        const res = await write(deepJson(COLLECTION, depth), `refused-${depth}`)
        assert.equal(res.status, 400, `depth ${depth}: ${JSON.stringify(res.json).slice(0, 300)}`)
        assert.equal(res.json.error, 'InvalidRequest')
        assert.match(res.json.message, /128/)
      }
      const gone = await call('com.atproto.repo.getRecord', undefined, { repo: did, collection: COLLECTION, rkey: `refused-${LIMIT + 1}` })
      assert.equal(gone.status, 400)
      assert.equal(gone.json.error, 'RecordNotFound')
      await assertHealthy()
    })
  }

  test(`a record ${LIMIT} levels deep is stored by each write method and reads back whole`, async () => {
    const rkeys = ['at-limit-create', 'at-limit-put', 'at-limit-apply']
    assert.equal((await writes.createRecord(deepJson(COLLECTION, LIMIT), rkeys[0])).status, 200)
    assert.equal((await writes.putRecord(deepJson(COLLECTION, LIMIT), rkeys[1])).status, 200)
    assert.equal((await writes['applyWrites create'](deepJson(COLLECTION, LIMIT), rkeys[2])).status, 200)
    const updated = await writes['applyWrites update'](deepJson(COLLECTION, LIMIT - 1), rkeys[2])
    assert.equal(updated.status, 200, JSON.stringify(updated.json))
    for (const [i, rkey] of rkeys.entries()) {
      const got = await call('com.atproto.repo.getRecord', undefined, { repo: did, collection: COLLECTION, rkey })
      assert.equal(got.status, 200, JSON.stringify(got.json).slice(0, 300))
      assert.equal(depthOf(got.json.value), i === 2 ? LIMIT - 1 : LIMIT)
    }
    const list = await call('com.atproto.repo.listRecords', undefined, { repo: did, collection: COLLECTION, limit: '100' })
    assert.equal(list.status, 200)
    const listed = new Map<string, unknown>(list.json.records.map((r: { uri: string; value: unknown }) => [r.uri.split('/').pop(), r.value]))
    assert.equal(depthOf(listed.get(rkeys[0])), LIMIT)
    assert.equal(depthOf(listed.get(rkeys[1])), LIMIT)
  })
})

describe('preferences', () => {
  const PREF = 'app.bsky.actor.defs#deepTestPref'

  test(`putPreferences: ${LIMIT + 1} and 10,000 levels are refused with 400 naming the limit`, async () => {
    for (const depth of [LIMIT + 1, 10_000]) {
      const res = await call('app.bsky.actor.putPreferences', `{"preferences":[${deepJson(PREF, depth)}]}`)
      assert.equal(res.status, 400, `depth ${depth}: ${JSON.stringify(res.json).slice(0, 300)}`)
      assert.equal(res.json.error, 'InvalidRequest')
      assert.match(res.json.message, /128/)
    }
    const prefs = await call('app.bsky.actor.getPreferences')
    assert.equal(prefs.status, 200)
    assert.ok(!prefs.json.preferences.some((p: { $type: string }) => p.$type === PREF))
  })

  test(`a preference ${LIMIT} levels deep is stored and reads back whole`, async () => {
    const res = await call('app.bsky.actor.putPreferences', `{"preferences":[${deepJson(PREF, LIMIT)}]}`)
    assert.equal(res.status, 200, JSON.stringify(res.json))
    const prefs = await call('app.bsky.actor.getPreferences')
    assert.equal(prefs.status, 200)
    const pref = prefs.json.preferences.find((p: { $type: string }) => p.$type === PREF)
    assert.equal(depthOf(pref), LIMIT)
  })
})

describe('importRepo', () => {
  async function importCar(car: Uint8Array): Promise<{ status: number; json: any }> {
    const res = await fetch(new URL('/xrpc/com.atproto.repo.importRepo', pds.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.ipld.car' },
      body: car,
    })
    const text = await res.text()
    return { status: res.status, json: text ? JSON.parse(text) : null }
  }

  test('a CAR holding a record block nested 10,000 deep is refused, and nothing changes', async () => {
    const store = pds.hearth.services.actors.get(did)
    assert.ok(store)
    const before = store.head()?.cid.$link
    const { car } = await repoCar(did, store.keypair(), [
      { key: `${COLLECTION}/ok` },
      { key: `${COLLECTION}/deep`, bytes: deepRecordBytes(COLLECTION, 10_000) },
    ])
    const res = await importCar(car)
    assert.equal(res.status, 400, JSON.stringify(res.json))
    assert.equal(res.json.error, 'InvalidRequest')
    assert.match(res.json.message, /128/)
    assert.equal(store.head()?.cid.$link, before)
    const got = await call('com.atproto.repo.getRecord', undefined, { repo: did, collection: COLLECTION, rkey: 'deep' })
    assert.equal(got.json.error, 'RecordNotFound')
    await assertHealthy()
  })

  test(`a CAR whose record nests ${LIMIT} levels is imported and reads back`, async () => {
    const store = pds.hearth.services.actors.get(did)
    assert.ok(store)
    const { car } = await repoCar(did, store.keypair(), [{ key: `${COLLECTION}/imported`, bytes: deepRecordBytes(COLLECTION, LIMIT - 1) }])
    const res = await importCar(car)
    assert.equal(res.status, 200, JSON.stringify(res.json))
    const got = await call('com.atproto.repo.getRecord', undefined, { repo: did, collection: COLLECTION, rkey: 'imported' })
    assert.equal(got.status, 200)
    assert.equal(depthOf(got.json.value), LIMIT)
    await assertHealthy()
  })
})
