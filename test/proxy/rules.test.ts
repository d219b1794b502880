// The proxy's pure rules: default services, atproto-proxy parsing, forwarded response headers,
// and the mapping of upstream errors.
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, it } from 'node:test'
import { defaultService, isPrivilegedMethod, isProtectedMethod } from '../../src/proxy/methods.ts'
import { computeProxyTo, parseProxyHeader, resolveProxyTarget } from '../../src/proxy/target.ts'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { forwardedResponseHeaders, readResponseBody, UpstreamError } from '../../src/proxy/upstream.ts'
import { XrpcError } from '../../src/errors.ts'

const config = {
  bskyAppView: { url: 'http://appview.test', did: 'did:web:appview.test', cdnUrlPattern: null },
  modService: { url: 'http://mod.test', did: 'did:web:mod.test' },
  reportService: { url: 'http://report.test', did: 'did:web:report.test' },
}
const req = (headers: Record<string, string> = {}) => ({ headers }) as unknown as IncomingMessage

describe('proxy rules', () => {
  it('routes methods to their default service as the official', () => {
    assert.deepEqual(defaultService(config, 'app.bsky.feed.getTimeline'), { serviceId: 'bsky_appview', service: config.bskyAppView })
    assert.deepEqual(defaultService(config, 'chat.bsky.convo.listConvos'), { serviceId: 'bsky_appview', service: config.bskyAppView })
    assert.deepEqual(defaultService(config, 'tools.ozone.moderation.queryStatuses'), { serviceId: 'atproto_labeler', service: config.modService })
    assert.deepEqual(defaultService(config, 'com.atproto.moderation.createReport'), { serviceId: 'atproto_labeler', service: config.reportService })
    assert.equal(computeProxyTo({ config }, req(), 'tools.ozone.team.listMembers'), 'did:web:mod.test#atproto_labeler')
    assert.equal(computeProxyTo({ config }, req({ 'atproto-proxy': 'did:web:x.test#bsky_chat' }), 'app.bsky.feed.getTimeline'), 'did:web:x.test#bsky_chat')
    const none = { bskyAppView: null, modService: null, reportService: null }
    assert.throws(() => computeProxyTo({ config: none }, req(), 'app.bsky.feed.getTimeline'), (err: unknown) => {
      assert.ok(err instanceof XrpcError)
      assert.equal(err.message, 'No service configured for app.bsky.feed.getTimeline')
      return true
    })
  })

  it('knows privileged and protected methods, case-insensitively', () => {
    assert.equal(isPrivilegedMethod('chat.bsky.convo.sendMessage'), true)
    assert.equal(isPrivilegedMethod('CHAT.bsky.convo.sendMessage'), true)
    assert.equal(isPrivilegedMethod('app.bsky.feed.getTimeline'), false)
    assert.equal(isProtectedMethod('com.atproto.server.updateEmail'), true)
    assert.equal(isProtectedMethod('com.atproto.server.getServiceAuth'), false)
  })

  it('parses atproto-proxy with the official errors', () => {
    assert.deepEqual(parseProxyHeader('did:web:a.test#bsky_chat'), { did: 'did:web:a.test', serviceId: 'bsky_chat' })
    for (const [value, message] of [
      ['#x', 'no did specified in proxy header'],
      ['did:web:a.test', 'no service id specified in proxy header'],
      ['did:web:a.test#', 'no service id specified in proxy header'],
      ['did:web:a.test#a#b', 'invalid proxy header format'],
      ['did:web:a.test#a b', 'proxy header cannot contain spaces'],
    ]) {
      assert.throws(() => parseProxyHeader(value), (err: unknown) => err instanceof XrpcError && err.status === 400 && err.message === message, value)
    }
  })

  it('resolves the configured AppView by name without a DID lookup, others through their document', async () => {
    let lookups = 0
    const didResolver = {
      resolve: async (did: string) => {
        lookups++
        return did === 'did:web:chat.test'
          ? { id: did, service: [{ id: '#bsky_chat', type: 'BskyChatService', serviceEndpoint: 'https://chat.test' }] }
          : null
      },
    }
    const appView = await resolveProxyTarget({ config, didResolver }, req({ 'atproto-proxy': 'did:web:appview.test#bsky_appview' }), 'x.y.z')
    assert.deepEqual(appView, { did: 'did:web:appview.test', url: 'http://appview.test', trusted: true })
    assert.equal(lookups, 0)
    const chat = await resolveProxyTarget({ config, didResolver }, req({ 'atproto-proxy': 'did:web:chat.test#bsky_chat' }), 'x.y.z')
    assert.deepEqual(chat, { did: 'did:web:chat.test', url: 'https://chat.test', trusted: false })
    await assert.rejects(resolveProxyTarget({ config, didResolver }, req({ 'atproto-proxy': 'did:web:gone.test#bsky_chat' }), 'x.y.z'), /could not resolve proxy did/)
  })

  it('forwards only the official response headers', () => {
    const headers = {
      'content-type': 'application/json',
      'content-length': '10',
      'content-language': 'en',
      'atproto-repo-rev': 'abc',
      'atproto-content-labelers': 'did:plc:x',
      'retry-after': '5',
      'set-cookie': ['a=b'],
      'x-internal': 'secret',
    }
    assert.deepEqual(forwardedResponseHeaders(headers), {
      'content-type': 'application/json',
      'content-length': '10',
      'content-language': 'en',
      'atproto-repo-rev': 'abc',
      'atproto-content-labelers': 'did:plc:x',
      'retry-after': '5',
    })
    assert.deepEqual(forwardedResponseHeaders(headers, false), { 'atproto-repo-rev': 'abc', 'atproto-content-labelers': 'did:plc:x', 'retry-after': '5' })
  })

  it('maps upstream errors: 500 becomes 502, names and messages pass through or default', () => {
    const e500 = new UpstreamError(500, {}, { error: 'InternalServerError', message: 'boom' })
    assert.deepEqual([e500.status, e500.error, e500.message], [502, 'InternalServerError', 'boom'])
    const e400 = new UpstreamError(400, { 'atproto-repo-rev': 'r1' }, {})
    assert.deepEqual([e400.status, e400.error, e400.message], [400, 'InvalidRequest', 'Invalid Request'])
    assert.deepEqual(e400.headers, { 'atproto-repo-rev': 'r1' })
    const e429 = new UpstreamError(429, { 'retry-after': '3' }, { error: 'RateLimitExceeded' })
    assert.deepEqual([e429.status, e429.error, e429.headers], [429, 'RateLimitExceeded', { 'retry-after': '3' }])
  })

  it('reads upstream bodies, decoding gzip, within the size limit', async () => {
    const text = JSON.stringify({ feed: [], cursor: 'x'.repeat(1000) })
    const gz = { statusCode: 200, headers: { 'content-encoding': 'gzip' }, body: Readable.from([gzipSync(text)]) }
    assert.equal((await readResponseBody(gz, 1 << 20)).toString('utf8'), text)
    const plain = { statusCode: 200, headers: {}, body: Readable.from([Buffer.from(text)]) }
    await assert.rejects(readResponseBody(plain, 100), (err: unknown) => err instanceof XrpcError && err.status === 502)
    const odd = { statusCode: 200, headers: { 'content-encoding': 'zstd-x' }, body: Readable.from([Buffer.from('?')]) }
    await assert.rejects(readResponseBody(odd, 100), (err: unknown) => err instanceof XrpcError && err.error === 'UpstreamFailure')
  })
})
