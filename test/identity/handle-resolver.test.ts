import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { HandleResolver, parseDnsTxtResult, type TxtResolver } from '../../src/identity/handle-resolver.ts'
import type { AddressResolver } from '../../src/identity/safe-fetch.ts'
import { startServer } from './helpers.ts'

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const OTHER = 'did:web:other.example'

const toLoopback: AddressResolver = async () => [{ address: '127.0.0.1', family: 4 }]
const noTxt: TxtResolver = async () => {
  throw Object.assign(new Error('queryTxt ENOTFOUND'), { code: 'ENOTFOUND' })
}

test('parseDnsTxtResult: exactly one did= record with a valid DID; chunks are joined', () => {
  assert.equal(parseDnsTxtResult([[`did=${DID}`]]), DID)
  assert.equal(parseDnsTxtResult([['v=spf1 -all'], [`did=${DID}`]]), DID)
  assert.equal(parseDnsTxtResult([['did=did:plc:ewvi7nxzyo', 'un6zhxrhs64oiz']]), DID)
  assert.equal(parseDnsTxtResult([[`did=${DID}`], [`did=${OTHER}`]]), undefined)
  assert.equal(parseDnsTxtResult([['did=not a did']]), undefined)
  assert.equal(parseDnsTxtResult([]), undefined)
})

/** A well-known server answering per Host header; counts requests. */
async function wellKnownServer(answers: Record<string, { status?: number; body: string; headers?: Record<string, string> }>) {
  const hits: string[] = []
  const server = await startServer((req, res) => {
    const host = (req.headers.host ?? '').split(':')[0]
    hits.push(`${host}${req.url}`)
    const a = answers[host]
    if (!a || req.url !== '/.well-known/atproto-did') {
      res.writeHead(404).end('not found')
      return
    }
    res.writeHead(a.status ?? 200, { 'content-type': 'text/plain', ...a.headers }).end(a.body)
  })
  return { server, hits }
}

test('DNS TXT through the injected resolver; DNS wins over HTTPS', async () => {
  const asked: string[] = []
  const { server, hits } = await wellKnownServer({ 'both.example.com': { body: OTHER } })
  try {
    const resolver = new HandleResolver({
      resolveTxt: async (name) => {
        asked.push(name)
        return name === '_atproto.both.example.com' || name === '_atproto.dns.example.com' ? [[`did=${DID}`]] : []
      },
      allowPrivate: true,
      resolveAddress: toLoopback,
      wellKnownUrl: (h) => `http://${h}:${server.port}/.well-known/atproto-did`,
    })
    assert.equal(await resolver.resolve('dns.example.com'), DID)
    assert.equal(await resolver.resolve('Both.Example.com'), DID)
    assert.deepEqual(asked, ['_atproto.dns.example.com', '_atproto.both.example.com'])
    // The HTTPS answer, a different DID, lost to DNS.
    assert.equal(await resolver.resolveHttp('both.example.com'), OTHER)
    assert.ok(hits.length >= 1)
  } finally {
    await server.close()
  }
})

test('HTTPS well-known when DNS has nothing: first line, trimmed; Host is the handle', async () => {
  const { server, hits } = await wellKnownServer({
    'alice.example.com': { body: `${DID}\nsomething else\n` },
    'crlf.example.com': { body: `  ${DID}\r\n` },
    'bad.example.com': { body: 'hello world' },
    'err.example.com': { status: 500, body: DID },
    'big.example.com': { body: `${DID}\n${'x'.repeat(2048)}` },
  })
  try {
    const resolver = new HandleResolver({
      resolveTxt: noTxt,
      allowPrivate: true,
      resolveAddress: toLoopback,
      wellKnownUrl: (h) => `http://${h}:${server.port}/.well-known/atproto-did`,
    })
    assert.equal(await resolver.resolve('alice.example.com'), DID)
    assert.equal(hits.at(-1), 'alice.example.com/.well-known/atproto-did')
    assert.equal(await resolver.resolve('crlf.example.com'), DID)
    assert.equal(await resolver.resolve('bad.example.com'), undefined)
    assert.equal(await resolver.resolve('err.example.com'), undefined)
    assert.equal(await resolver.resolve('big.example.com'), undefined, 'more than 1 KiB is refused')
    assert.equal(await resolver.resolve('nobody.example.com'), undefined)
  } finally {
    await server.close()
  }
})

test('private and loopback destinations are refused without allowPrivate', async () => {
  const { server, hits } = await wellKnownServer({ 'alice.example.com': { body: DID } })
  try {
    const strict = new HandleResolver({
      resolveTxt: noTxt,
      resolveAddress: toLoopback,
      wellKnownUrl: (h) => `http://${h}:${server.port}/.well-known/atproto-did`,
    })
    assert.equal(await strict.resolve('alice.example.com'), undefined)
    assert.equal(await strict.resolveHttp('alice.example.com'), undefined)
    // With the system resolver too: `localhost`-like names and loopback literals.
    const literal = new HandleResolver({ resolveTxt: noTxt, wellKnownUrl: () => `http://127.0.0.1:${server.port}/.well-known/atproto-did` })
    assert.equal(await literal.resolve('alice.example.com'), undefined)
    assert.equal(hits.length, 0, 'no request reached the server')
  } finally {
    await server.close()
  }
})

test('IP literals and invalid handles are refused before any lookup', async () => {
  let asked = 0
  const resolver = new HandleResolver({
    resolveTxt: async () => {
      asked++
      return [[`did=${DID}`]]
    },
  })
  for (const h of ['127.0.0.1', '1.2.3.4', '[::1]', 'localhost', 'no spaces.com', '', 'a..b.com']) {
    assert.equal(await resolver.resolve(h), undefined, h)
  }
  assert.equal(asked, 0)
})

test('time is bounded for both methods; redirects are followed a few hops only', async () => {
  const server = await startServer((req, res) => {
    const host = (req.headers.host ?? '').split(':')[0]
    if (host === 'slow.example.com') return // never answers
    const m = /^r(\d+)\./.exec(host)
    if (m && req.url === '/.well-known/atproto-did') {
      const n = Number(m[1])
      res.writeHead(302, { location: n > 0 ? `http://r${n - 1}.example.com:${server.port}/.well-known/atproto-did` : '/final' }).end()
      return
    }
    if (req.url === '/final') {
      res.end(DID)
      return
    }
    res.writeHead(404).end()
  })
  try {
    const resolver = new HandleResolver({
      timeoutMs: 300,
      resolveTxt: (name) => (name.startsWith('_atproto.slow') ? new Promise(() => {}) : noTxt(name)),
      allowPrivate: true,
      resolveAddress: toLoopback,
      wellKnownUrl: (h) => `http://${h}:${server.port}/.well-known/atproto-did`,
    })
    const started = Date.now()
    assert.equal(await resolver.resolve('slow.example.com'), undefined)
    assert.ok(Date.now() - started < 1500, 'DNS and HTTPS both gave up at the deadline')
    assert.equal(await resolver.resolve('r2.example.com'), DID) // 3 redirects
    assert.equal(await resolver.resolve('r3.example.com'), undefined) // 4 redirects
  } finally {
    await server.close()
  }
})

/** A tiny DNS server on 127.0.0.1 answering TXT queries from a table (for the real resolver path). */
async function dnsServer(records: Record<string, string[]>) {
  const socket = createSocket('udp4')
  const asked: string[] = []
  socket.on('message', (msg, rinfo) => {
    // Question name: length-prefixed labels from offset 12, then type and class.
    const labels: string[] = []
    let i = 12
    while (msg[i] !== 0) {
      labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString('ascii'))
      i += msg[i] + 1
    }
    const questionEnd = i + 5
    const name = labels.join('.').toLowerCase()
    asked.push(name)
    const texts = records[name] ?? []
    const answers = texts.map((t) => {
      const data = Buffer.from(t, 'ascii')
      const rr = Buffer.alloc(12)
      rr.writeUInt16BE(0xc00c, 0) // pointer to the question name
      rr.writeUInt16BE(16, 2) // TXT
      rr.writeUInt16BE(1, 4) // IN
      rr.writeUInt32BE(60, 6)
      rr.writeUInt16BE(data.length + 1, 10)
      return Buffer.concat([rr, Buffer.from([data.length]), data])
    })
    const header = Buffer.alloc(12)
    msg.copy(header, 0, 0, 2) // id
    header.writeUInt16BE(texts.length ? 0x8180 : 0x8183, 2) // response; NXDOMAIN when empty
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(answers.length, 6)
    socket.send(Buffer.concat([header, msg.subarray(12, questionEnd), ...answers]), rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return { port: (socket.address() as AddressInfo).port, asked, close: () => socket.close() }
}

test('backup nameservers are asked, through a real DNS exchange, when both methods fail', async () => {
  const dns = await dnsServer({ '_atproto.backup.example.com': [`did=${DID}`], '_atproto.two.example.com': [`did=${DID}`, `did=${OTHER}`] })
  try {
    const resolver = new HandleResolver({
      timeoutMs: 1000,
      resolveTxt: noTxt,
      backupNameservers: [`127.0.0.1:${dns.port}`],
      wellKnownUrl: () => 'http://127.0.0.1:9/.well-known/atproto-did', // refused: loopback
    })
    assert.equal(await resolver.resolve('backup.example.com'), DID)
    assert.equal(await resolver.resolve('two.example.com'), undefined)
    assert.equal(await resolver.resolve('none.example.com'), undefined)
    assert.deepEqual(dns.asked, ['_atproto.backup.example.com', '_atproto.two.example.com', '_atproto.none.example.com'])
  } finally {
    dns.close()
  }
})
