// PDS_CRAWLERS: a relay on loopback receives requestCrawl with this PDS's hostname at start,
// and not again within the interval however many writes follow.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { startTestPds } from '../helpers/pds.ts'

test('requestCrawl goes to every configured crawler at start, rate-limited afterwards', async () => {
  const received: Array<{ path: string; body: string }> = []
  const relay = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', body })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
  const pds = await startTestPds({ env: { PDS_CRAWLERS: url } })
  try {
    const deadline = Date.now() + 5000
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(received.length, 1)
    assert.equal(received[0].path, '/xrpc/com.atproto.sync.requestCrawl')
    assert.deepEqual(JSON.parse(received[0].body), { hostname: 'localhost' })
    const { agent, did } = await pds.createAccount('crawled')
    await agent.com.atproto.repo.createRecord({ repo: did, collection: 'com.example.x', record: { a: 1 } })
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(received.length, 1, 'no second notification within the interval')
  } finally {
    await pds.close()
    relay.close()
  }
})
