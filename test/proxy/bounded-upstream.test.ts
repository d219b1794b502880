// An upstream that answers with a gzip bomb (a small compressed body that inflates to hundreds
// of megabytes) cannot make Hearth hold it in memory: wherever Hearth decompresses an upstream
// body (read-after-write patching, createReport, upstream error bodies) the inflated size is
// bounded by PDS_PROXY_MAX_RESPONSE_SIZE and a bigger answer is a 502 UpstreamFailure.
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { startServer, type TestServer } from '../identity/helpers.ts'

const MAX_RESPONSE = 1024 * 1024
// 256 gzip members of 1 MiB of zeros each: about 260 KB on the wire, 256 MiB once inflated.
const MEMBERS = 256
const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 })
const bomb = Buffer.concat(Array.from({ length: MEMBERS }, () => member))

let upstream: TestServer
let pds: TestPds
let alice: Awaited<ReturnType<TestPds['createAccount']>>
let served = 0
// The rev the AppView claims to have indexed: the first post's, so the second is patched in.
let indexedRev = ''

before(async () => {
  assert.ok(bomb.length < MAX_RESPONSE / 2, `the bomb itself must pass the compressed-size limit (${bomb.length})`)
  upstream = await startServer((req, res) => {
    served++
    req.resume()
    const status = req.url?.startsWith('/xrpc/app.bsky.actor.getSuggestions') ? 400 : 200
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': String(bomb.length),
      // An AppView behind the account's writes: read-after-write has to read the body.
      'atproto-repo-rev': indexedRev,
    })
    res.end(bomb)
  })
  const did = 'did:web:upstream.test'
  pds = await startTestPds({
    env: {
      PDS_BSKY_APP_VIEW_URL: upstream.url,
      PDS_BSKY_APP_VIEW_DID: did,
      PDS_MOD_SERVICE_URL: upstream.url,
      PDS_MOD_SERVICE_DID: did,
      PDS_PROXY_MAX_RESPONSE_SIZE: String(MAX_RESPONSE),
    },
  })
  alice = await pds.createAccount('alice')
  await alice.agent.post({ text: 'indexed by the AppView' })
  indexedRev = (await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })).data.rev
  await alice.agent.post({ text: 'not yet indexed by the AppView' })
})

after(async () => {
  await pds?.close()
  await upstream?.close()
})

async function call(nsid: string, init: { query?: string; body?: unknown } = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${pds.url}/xrpc/${nsid}${init.query ? `?${init.query}` : ''}`, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${alice.agent.session?.accessJwt}`,
      'accept-encoding': 'identity',
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  const text = await res.text()
  try {
    return { status: res.status, json: JSON.parse(text) }
  } catch {
    return { status: res.status, json: `not JSON: ${text.length} characters` }
  }
}

function rssMiB(): number {
  return process.memoryUsage().rss / (1024 * 1024)
}

test('read-after-write: a bomb from the AppView is cut at the limit with 502', async () => {
  const before = served
  const startRss = rssMiB()
  for (let i = 0; i < 3; i++) {
    const res = await call('app.bsky.feed.getTimeline')
    assert.equal(res.status, 502, JSON.stringify(res.json))
    assert.equal(res.json.error, 'UpstreamFailure')
    assert.match(res.json.message, /^upstream response too large/)
  }
  assert.equal(served - before, 3, 'the AppView was asked')
  assert.ok(rssMiB() - startRss < 128, `resident memory grew by ${Math.round(rssMiB() - startRss)} MiB`)
})

test('createReport: a bomb from the moderation service is cut at the limit with 502', async () => {
  const res = await call('com.atproto.moderation.createReport', {
    body: { reasonType: 'com.atproto.moderation.defs#reasonSpam', subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did } },
  })
  assert.equal(res.status, 502, JSON.stringify(res.json))
  assert.equal(res.json.error, 'UpstreamFailure')
})

test('an upstream error whose body is a bomb keeps its status; the body is not inflated past a small bound', async () => {
  const res = await call('app.bsky.actor.getSuggestions')
  assert.equal(res.status, 400, JSON.stringify(res.json))
})

test('the server is healthy afterwards', async () => {
  const health = await fetch(`${pds.url}/xrpc/_health`)
  assert.equal(health.status, 200)
  const list = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post' })
  assert.equal(list.data.records.length, 2)
})
