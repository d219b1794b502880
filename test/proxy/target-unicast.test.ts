// An `atproto-proxy` service (or any other user-chosen URL) that is not a unicast address is
// refused even with SSRF protection off, as in dev mode: dev mode may reach loopback and private
// addresses over http, for a local AppView, but never "any address" (0.0.0.0, ::), multicast or
// broadcast. On Linux a connection to 0.0.0.0 lands on this very machine, whatever listens there.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { assertSafeUrl, guardedLookup, SsrfError } from '../../src/identity/safe-fetch.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { startTestService, type TestService } from './services.ts'

const NOT_UNICAST = [
  'http://0.0.0.0:2583/',
  'http://0.0.0.1/',
  'http://[::]:2583/',
  'http://[::ffff:0.0.0.0]/',
  'http://224.0.0.1/',
  'http://239.255.255.250/',
  'http://255.255.255.255/',
  'http://[ff02::1]/',
  'http://[ff05::2]/',
]
const LOCAL_UNICAST = ['http://127.0.0.1:2583/', 'http://[::1]/', 'http://10.0.0.1/', 'http://192.168.1.20/', 'http://localhost:2583/']

describe('the SSRF rules with protection off (dev mode)', () => {
  it('refuse an address that is not unicast', () => {
    for (const url of NOT_UNICAST) {
      assert.throws(() => assertSafeUrl(new URL(url), { allowPrivate: true }), SsrfError, url)
      assert.throws(() => assertSafeUrl(new URL(url)), SsrfError, url)
    }
  })

  it('still allow loopback and private unicast addresses', () => {
    for (const url of LOCAL_UNICAST) assert.doesNotThrow(() => assertSafeUrl(new URL(url), { allowPrivate: true }), url)
  })

  it('refuse a host name that resolves to a non-unicast address', async () => {
    for (const address of ['0.0.0.0', '::', '224.0.0.251', '255.255.255.255']) {
      const lookup = guardedLookup({ allowPrivate: true, resolve: async () => [{ address, family: address.includes(':') ? 6 : 4 }] })
      const err = await new Promise<Error | null>((resolve) => lookup('some.host.example', {}, (e) => resolve(e)))
      assert.ok(err instanceof SsrfError, `${address}: ${String(err)}`)
    }
    const lookup = guardedLookup({ allowPrivate: true, resolve: async () => [{ address: '127.0.0.1', family: 4 }] })
    const ok = await new Promise<string>((resolve, reject) => lookup('local.example', {}, (e, a) => (e ? reject(e) : resolve(a as string))))
    assert.equal(ok, '127.0.0.1')
  })
})

describe('atproto-proxy in dev mode', () => {
  let target: TestService
  let appView: TestService
  let pds: TestPds

  before(async () => {
    // What a request sent to "any address" would reach on this machine.
    target = await startTestService({ services: [], verifyTokens: false, handler: () => ({ body: { subject: { did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', handle: 'x.test' }, follows: [] } }) })
    appView = await startTestService({
      services: [
        { id: 'bsky_appview', type: 'BskyAppView' },
        { id: 'any_v4', type: 'BskyAppView', endpoint: `http://0.0.0.0:${target.port}` },
        { id: 'any_v6', type: 'BskyAppView', endpoint: `http://[::]:${target.port}` },
        { id: 'multicast', type: 'BskyAppView', endpoint: `http://224.0.0.1:${target.port}` },
        { id: 'loopback', type: 'BskyAppView', endpoint: target.url },
      ],
    })
    pds = await startTestPds({ env: { PDS_BSKY_APP_VIEW_URL: appView.url, PDS_BSKY_APP_VIEW_DID: appView.did } })
    appView.setPlcUrl(pds.plcUrl)
    assert.equal(pds.hearth.config.service.devMode, true)
  })

  after(async () => {
    await pds?.close()
    await Promise.all([appView?.close(), target?.close()])
  })

  it('refuses a service at 0.0.0.0, ::, or a multicast address, without connecting', async () => {
    const acct = await pds.createAccount('unicast')
    for (const id of ['any_v4', 'any_v6', 'multicast']) {
      const res = await fetch(`${pds.url}/xrpc/app.bsky.graph.getFollows?actor=did:plc:ewvi7nxzyoun6zhxrhs64oiz`, {
        headers: { authorization: `Bearer ${acct.agent.session?.accessJwt}`, 'atproto-proxy': `${appView.did}#${id}` },
      })
      assert.equal(res.status, 502, id)
      assert.equal(((await res.json()) as { error: string }).error, 'UpstreamFailure', id)
    }
    assert.equal(target.calls.length, 0, 'nothing reached the machine through "any address"')

    // A loopback AppView, what dev mode is for, is still reached.
    const ok = await fetch(`${pds.url}/xrpc/app.bsky.graph.getFollows?actor=did:plc:ewvi7nxzyoun6zhxrhs64oiz`, {
      headers: { authorization: `Bearer ${acct.agent.session?.accessJwt}`, 'atproto-proxy': `${appView.did}#loopback` },
    })
    assert.equal(ok.status, 200)
    assert.equal(target.calls.length, 1)
  })
})
