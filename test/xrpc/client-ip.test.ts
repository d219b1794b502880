import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { test } from 'node:test'
import { ClientIpResolver, IpSet, normalizeIp } from '../../src/xrpc/client-ip.ts'

const fakeReq = (remoteAddress: string, xff?: string) =>
  ({ socket: { remoteAddress }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage

test('normalizeIp: IPv4-mapped IPv6, case, zones', () => {
  assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1')
  assert.equal(normalizeIp('FE80::1%eth0'), 'fe80::1')
  assert.equal(normalizeIp('[::1]'), '::1')
  assert.equal(normalizeIp(' 1.2.3.4 '), '1.2.3.4')
})

test('IpSet: addresses and CIDR ranges of both families', () => {
  const set = new IpSet(['10.0.0.0/8', '2001:db8::/32', '1.2.3.4'])
  assert.ok(set.has('10.9.8.7'))
  assert.ok(set.has('::ffff:10.1.1.1'))
  assert.ok(set.has('2001:db8::5'))
  assert.ok(set.has('1.2.3.4'))
  assert.ok(!set.has('1.2.3.5'))
  assert.ok(!set.has('garbage'))
  assert.throws(() => set.add('10.0.0.0/33'))
  assert.throws(() => set.add('nope'))
})

test('ClientIpResolver: X-Forwarded-For is believed only from trusted proxies', () => {
  const r = new ClientIpResolver(['203.0.113.7'])
  // A public client talking directly: its header is ignored.
  assert.equal(r.resolve(fakeReq('198.51.100.1', '6.6.6.6')), '198.51.100.1')
  // Through a loopback proxy: the rightmost untrusted hop.
  assert.equal(r.resolve(fakeReq('::ffff:127.0.0.1', '6.6.6.6, 198.51.100.2')), '198.51.100.2')
  // Through a chain of trusted proxies (private range, then an extra trusted IP).
  assert.equal(r.resolve(fakeReq('10.0.0.5', '198.51.100.3, 203.0.113.7')), '198.51.100.3')
  // All hops trusted: the leftmost.
  assert.equal(r.resolve(fakeReq('127.0.0.1', '192.168.1.1, 10.0.0.1')), '192.168.1.1')
  // No header from a proxy: the proxy itself.
  assert.equal(r.resolve(fakeReq('127.0.0.1')), '127.0.0.1')
})
