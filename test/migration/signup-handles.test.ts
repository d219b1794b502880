// The handle rules at signup are updateHandle's (account/handle.ts normalizeAndValidateHandle):
// reserved names and unsupported domains are refused with the official errors, also for a DID
// moving in (the handle is checked before the DID's service auth, as the official does).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(async () => {
  await pds?.close()
})

let n = 0
async function signup(input: Record<string, unknown>): Promise<{ status: number; body: { error?: string; message?: string; handle?: string } }> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.server.createAccount`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `signup${n++}@example.com`, password: 'signup-password', ...input }),
  })
  return { status: res.status, body: (await res.json()) as never }
}

test('a reserved handle is refused at signup as on updateHandle', async () => {
  for (const handle of ['admin.test', 'Support.TEST', 'pds.test']) {
    const res = await signup({ handle })
    assert.equal(res.status, 400, handle)
    assert.deepEqual(res.body, { error: 'HandleNotAvailable', message: 'Reserved handle' }, handle)
  }
  // The same name through updateHandle: the same answer.
  const { agent } = await pds.createAccount('renamer')
  const err = await agent.com.atproto.identity.updateHandle({ handle: 'admin.test' }).then(
    () => null,
    (e: { error?: string; message?: string }) => e,
  )
  assert.equal(err?.error, 'HandleNotAvailable')
  assert.equal(err?.message, 'Reserved handle')
  // Only the exact names are reserved.
  const ok = await signup({ handle: 'admins.test' })
  assert.equal(ok.status, 200)
  assert.equal(ok.body.handle, 'admins.test')
})

test('a handle on a domain the server does not serve is refused at signup', async () => {
  const res = await signup({ handle: 'someone.example.org' })
  assert.equal(res.status, 400)
  assert.deepEqual(res.body, { error: 'UnsupportedDomain', message: 'Not a supported handle domain' })
})

test('a DID moving in gets the same handle rules, before its service auth is looked at', async () => {
  const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const reserved = await signup({ handle: 'admin.test', did })
  assert.equal(reserved.status, 400)
  assert.equal(reserved.body.error, 'HandleNotAvailable')
  // Another domain is allowed only when it already resolves to the DID (here it resolves nowhere).
  const external = await signup({ handle: 'someone.example.org', did })
  assert.equal(external.status, 400)
  assert.deepEqual(external.body, { error: 'InvalidRequest', message: 'External handle did not resolve to DID' })
  // A valid handle: now the missing service auth is what is refused.
  const noAuth = await signup({ handle: 'newcomer.test', did })
  assert.equal(noAuth.status, 401)
  assert.equal(noAuth.body.error, 'AuthenticationRequired')
  assert.equal(noAuth.body.message, `Missing auth to create account with did: ${did}`)
})
