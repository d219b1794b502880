// GET /tls-check?domain=… is what Caddy's on-demand TLS asks before it orders a certificate
// (the official installer's Caddyfile: `on_demand_tls { ask http://localhost:3000/tls-check }`).
// Answers as the official PDS's service does: 200 for the service hostname and for a handle of
// an account hosted here, 400 for a missing domain or one outside the service handle domains,
// 404 for a handle in those domains that no (active) account holds.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let pds: TestPds
let handle: string
before(async () => {
  pds = await startTestPds()
  handle = (await pds.createAccount('tls')).handle
})
after(() => pds.close())

async function ask(domain: string | null): Promise<{ status: number; body: { error?: string; success?: boolean } }> {
  const url = new URL('/tls-check', pds.url)
  if (domain !== null) url.searchParams.set('domain', domain)
  const res = await fetch(url)
  return { status: res.status, body: (await res.json()) as { error?: string; success?: boolean } }
}

test('the service hostname and a hosted handle get a certificate', async () => {
  assert.deepEqual(await ask('localhost'), { status: 200, body: { success: true } })
  assert.deepEqual(await ask(handle), { status: 200, body: { success: true } })
})

test('a missing domain or one outside the handle domains is refused with 400', async () => {
  const missing = await ask(null)
  assert.equal(missing.status, 400)
  assert.equal(missing.body.error, 'InvalidRequest')
  const foreign = await ask('evil.example.com')
  assert.equal(foreign.status, 400)
  assert.equal(foreign.body.error, 'InvalidRequest')
})

test('an unknown or taken-down handle in a hosted domain is 404', async () => {
  const unknown = await ask('nobody-here.test')
  assert.equal(unknown.status, 404)
  assert.equal(unknown.body.error, 'NotFound')
  const { did, handle: down } = await pds.createAccount('down')
  const res = await fetch(new URL('/xrpc/com.atproto.admin.updateSubjectStatus', pds.url), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`,
    },
    body: JSON.stringify({ subject: { $type: 'com.atproto.admin.defs#repoRef', did }, takedown: { applied: true, ref: 't1' } }),
  })
  assert.equal(res.status, 200)
  assert.equal((await ask(down)).status, 404)
})
