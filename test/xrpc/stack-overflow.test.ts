// The router's last line against deep input: a JSON body nested past what any value may hold is
// refused before lexicon validation walks it, and a stack overflow that still happens in a
// handler or a plain route is the client's 400, not a 500.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createLogger } from '../../src/logger.ts'
import { createXrpcServer, type XrpcServer } from '../../src/xrpc/server.ts'
import { listen, type Listening } from '../helpers/net.ts'

let server: XrpcServer
let net: Listening
let lastInput: unknown

function overflow(n: number): number {
  return n === 0 ? 0 : 1 + overflow(n + 1)
}

before(async () => {
  server = createXrpcServer({ logger: createLogger({ name: 'test', config: { level: 'fatal' } }) })
  server.register({
    nsid: 'com.atproto.server.describeServer',
    auth: () => ({ kind: 'none' }),
    handler: () => {
      overflow(1)
      return undefined
    },
  })
  server.register({
    nsid: 'com.atproto.repo.createRecord',
    auth: () => ({ kind: 'none' }),
    handler: (ctx) => {
      lastInput = ctx.input
      return { encoding: 'application/json', body: { uri: 'at://did:plc:x/com.example.deep/1', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' } }
    },
  })
  server.addRoute('GET', '/deep', () => {
    overflow(1)
  })
  net = await listen(server.httpServer)
})

after(async () => {
  await net?.close()
})

function nestedJson(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
}

async function createRecord(record: string): Promise<{ status: number; body: { error?: string; message?: string } }> {
  const res = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"repo":"did:plc:x","collection":"com.example.deep","record":${record}}`,
  })
  return { status: res.status, body: (await res.json()) as { error?: string; message?: string } }
}

test('a body nested 10,000 deep is refused with 400 naming the limit', async () => {
  const res = await createRecord(nestedJson(10_000))
  assert.equal(res.status, 400)
  assert.equal(res.body.error, 'InvalidRequest')
  assert.match(res.body.message ?? '', /nested too deeply.*128/)
})

test('a record at the limit passes the router untouched', async () => {
  lastInput = undefined
  const res = await createRecord(nestedJson(128))
  assert.equal(res.status, 200, JSON.stringify(res.body))
  let depth = 0
  let v = (lastInput as { record: unknown }).record
  while (typeof v === 'object' && v !== null) {
    v = (v as { a: unknown }).a
    depth++
  }
  assert.equal(depth, 128)
})

test('a stack overflow in a method or a route is a 400, and the server goes on serving', async () => {
  const method = await fetch(`${net.url}/xrpc/com.atproto.server.describeServer`)
  assert.equal(method.status, 400)
  assert.deepEqual(await method.json(), { error: 'InvalidRequest', message: 'Request is nested too deeply' })
  const route = await fetch(`${net.url}/deep`)
  assert.equal(route.status, 400)
  assert.equal(((await route.json()) as { error: string }).error, 'InvalidRequest')
  const again = await createRecord('{"text":"still here"}')
  assert.equal(again.status, 200)
})
