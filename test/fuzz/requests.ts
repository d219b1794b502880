// The fuzzed requests. Request `index` of a run with `seed` is a pure function of the two (and
// of the shape of the world: how many accounts, records, blobs), so `--seed S --only INDEX`
// rebuilds it exactly; credentials are named, not copied, and looked up when it is sent.
import { createHash } from 'node:crypto'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import type { MethodDef } from '../../src/lexicons.ts'
import { prng } from '../helpers/prng.ts'
import type { Catalogue } from './catalogue.ts'
import { deepJsonText, type Pools, ValueGen } from './values.ts'
import { APPVIEW_DID, MOD_DID, PNG } from './world.ts'

export type AuthKind = 'none' | 'access' | 'appPass' | 'refresh' | 'admin' | 'adminWrong' | 'garbage'

export type Kind = 'http' | 'abort' | 'raw' | 'ws'

/** What kind of trouble a request is, for the figures. */
export type Label = 'lexicon' | 'proxied' | 'chaos' | 'encoding' | 'huge' | 'deep' | 'abort' | 'raw' | 'ws' | 'route'

export interface FuzzRequest {
  index: number
  kind: Kind
  label: Label
  /** The NSID the path names (null for other routes or garbage). */
  nsid: string | null
  method: string
  /** Path and query. */
  path: string
  headers: Record<string, string>
  auth: AuthKind
  /** Whose credentials (an index into the world's accounts). */
  account: number
  /** Send the rate-limit bypass key. */
  bypass: boolean
  body?: Buffer
  /** Send the body chunked instead of with a content-length. */
  chunked?: boolean
  /** abort: bytes of the body to write before the socket is destroyed, and the pause before. */
  abortAfter?: number
  abortDelayMs?: number
  /** raw: the bytes written to a bare TCP socket. */
  raw?: Buffer
}

export interface GenWorld {
  catalogue: Catalogue
  pools: Pools
  /** A repo export (CAR) for importRepo bodies. */
  car: Buffer
  accounts: number
}

const WRITE_JSON_LIMIT = 1_000_000
const JSON_LIMIT = 150 * 1024
const BLOB_LIMIT = 5 * 1024 * 1024
const OAUTH_LIMIT = 100 * 1024

const VERBS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND']
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'image/png',
  'application/vnd.ipld.car',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'garbage',
  'application/',
  '*/*',
  '',
]
const ENCODINGS = ['gzip', 'deflate', 'br', 'identity', 'x-unknown', 'GZIP', 'x-gzip', 'compress', '']
const PROXY_HEADERS = [
  `${APPVIEW_DID}#bsky_appview`,
  `${MOD_DID}#atproto_labeler`,
  'did:web:127.0.0.1%3A1#bsky_appview',
  'did:web:0.0.0.0#bsky_appview',
  'did:plc:ewvi7nxzyoun6zhxrhs64oiz#atproto_labeler',
  '#bsky_appview',
  'did:web:x.test#',
  'did:web:x.test#a#b',
  'garbage',
  'did:web:x.test #a',
]
const GARBAGE_AUTH = [
  'Bearer ',
  'Bearer not.a.jwt',
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJkaWQ6cGxjOmEiLCJzY29wZSI6ImNvbS5hdHByb3RvLmFjY2VzcyJ9.',
  'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOmEifQ.AAAA',
  'DPoP abc',
  'Basic ' + Buffer.from('admin:').toString('base64'),
  'Basic !!!',
  'Negotiate x',
  'bearer lowercase',
  'Bearer ' + 'a'.repeat(9000),
]
const ROUTES = [
  '/',
  '/robots.txt',
  '/xrpc/_health',
  '/.well-known/atproto-did',
  '/.well-known/did.json',
  '/.well-known/oauth-protected-resource',
  '/.well-known/oauth-authorization-server',
  '/oauth/jwks',
  '/oauth/par',
  '/oauth/token',
  '/oauth/revoke',
  '/oauth/authorize',
  '/account',
  '/account/x',
  '/tls-check',
  '/xrpc',
  '/xrpc/',
  '/xrpc//a.b',
  '/xrpc/a..b',
  '/xrpc/com.atproto.repo.getRecord/extra',
  '/xrpc/%2e%2e',
  '/xrpc/com.example.nope',
  '/../etc/passwd',
  '/%00',
  '//',
]
const PARAM_NAMES = ['repo', 'collection', 'rkey', 'limit', 'cursor', 'did', 'cids', 'handle', 'reverse', 'uri', 'actor', 'since', '__proto__', 'constructor', '', 'a[]']
const PARAM_VALUES = ['-1', '0', '99999999999999999999', 'true', 'NaN', '%zz', '\u0000', '😀', 'x'.repeat(3000), '', '..', 'did:plc:', '1e3', ' ']

function seedFor(seed: number, index: number): number {
  const h = createHash('sha256').update(`${seed}:${index}`).digest()
  return h.readUInt32LE(0)
}

/** Request `index` of the run with `seed`. */
export function generateRequest(seed: number, index: number, w: GenWorld): FuzzRequest {
  const g = new ValueGen(prng(seedFor(seed, index)), w.pools)
  const base: FuzzRequest = {
    index,
    kind: 'http',
    label: 'lexicon',
    nsid: null,
    method: 'GET',
    path: '/',
    headers: {},
    auth: 'none',
    account: g.int(0, w.accounts - 1),
    bypass: g.chance(0.85),
  }
  const r = g.rand()
  if (r < 0.5) return lexiconRequest(g, base, g.pick(w.catalogue.served), w)
  if (r < 0.57) return proxiedRequest(g, base, w)
  if (r < 0.65) return chaosRequest(g, base, w)
  if (r < 0.71) return encodingRequest(g, base, w)
  if (r < 0.75) return hugeRequest(g, base, w)
  if (r < 0.79) return deepRequest(g, base, w)
  if (r < 0.83) return abortRequest(g, base, w)
  if (r < 0.89) return rawRequest(g, base, w)
  if (r < 0.92) return wsRequest(g, base, w)
  return routeRequest(g, base)
}

function pickAuth(g: ValueGen): AuthKind {
  const r = g.rand()
  if (r < 0.18) return 'none'
  if (r < 0.53) return 'access'
  if (r < 0.66) return 'appPass'
  if (r < 0.7) return 'refresh'
  if (r < 0.86) return 'admin'
  if (r < 0.9) return 'adminWrong'
  return 'garbage'
}

function queryString(g: ValueGen, params: Record<string, unknown>, mutate: boolean): string {
  const entries: Array<[string, string]> = []
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const item of v) entries.push([k, String(item)])
    else if (v !== undefined) entries.push([k, typeof v === 'object' ? JSON.stringify(v) : String(v)])
  }
  if (mutate && entries.length > 0) {
    const r = g.rand()
    const i = g.int(0, entries.length - 1)
    if (r < 0.25) entries.splice(i, 1)
    else if (r < 0.5) entries[i] = [entries[i][0], String(g.mutant(entries[i][1]))]
    else if (r < 0.65) entries.push(entries[i])
    else if (r < 0.8) entries.push([g.pick(PARAM_NAMES), g.pick(PARAM_VALUES)])
    else entries[i] = [entries[i][0], '']
  } else if (mutate) {
    entries.push([g.pick(PARAM_NAMES), g.pick(PARAM_VALUES)])
  }
  if (entries.length === 0) return ''
  return '?' + entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
}

function inputSchema(def: MethodDef): Parameters<ValueGen['value']>[0] | undefined {
  if (def.def.type !== 'procedure') return undefined
  return def.def.input?.schema as Parameters<ValueGen['value']>[0] | undefined
}

/** A valid-looking body for a method (JSON, an image, a CAR), before any mutation. */
function validBody(g: ValueGen, def: MethodDef, w: GenWorld): { body: Buffer; type: string } | null {
  if (def.inputEncodings === null) return null
  if (def.jsonInput) {
    const schema = inputSchema(def)
    const value = schema ? g.value(schema, def.nsid) : {}
    return { body: Buffer.from(JSON.stringify(value)), type: 'application/json' }
  }
  if (def.nsid === 'com.atproto.repo.importRepo') return { body: w.car, type: 'application/vnd.ipld.car' }
  if (g.chance(0.6)) return { body: PNG, type: 'image/png' }
  return { body: randomBytes(g, g.int(0, 4000)), type: g.pick(['application/octet-stream', 'video/mp4', 'text/plain']) }
}

function lexiconRequest(g: ValueGen, base: FuzzRequest, def: MethodDef, w: GenWorld): FuzzRequest {
  const mutateParams = g.chance(0.3)
  const params = g.params(def.def.parameters as Parameters<ValueGen['params']>[0], def.nsid)
  const req: FuzzRequest = {
    ...base,
    nsid: def.nsid,
    method: g.chance(0.93) ? def.httpMethod : g.pick(VERBS),
    path: `/xrpc/${def.nsid}${queryString(g, params, mutateParams)}`,
    auth: pickAuth(g),
  }
  const valid = validBody(g, def, w)
  if (valid && req.method !== 'GET' && req.method !== 'HEAD') {
    let body = valid.body
    if (g.chance(0.35)) {
      if (def.jsonInput) body = Buffer.from(JSON.stringify(g.mutate(JSON.parse(body.toString()))) ?? 'null')
      else body = mutateBytes(g, body)
    }
    req.body = body
    req.headers['content-type'] = g.chance(0.9) ? valid.type : g.pick(CONTENT_TYPES)
    if (req.headers['content-type'] === '') delete req.headers['content-type']
  } else if (g.chance(0.05)) {
    req.body = Buffer.from('{}')
    req.headers['content-type'] = 'application/json'
  }
  if (req.body !== undefined) req.chunked = g.chance(0.15)
  if (g.chance(0.05)) req.headers['atproto-proxy'] = g.pick(PROXY_HEADERS)
  return req
}

function proxiedRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const req = lexiconRequest(g, base, g.pick(w.catalogue.proxied), w)
  req.label = 'proxied'
  if (req.auth === 'admin' || req.auth === 'adminWrong') req.auth = 'access'
  if (g.chance(0.25)) req.headers['atproto-proxy'] = g.pick(PROXY_HEADERS)
  // Drives which way the fake upstream answers.
  req.headers['accept-language'] = `fz-${g.int(0, 999)}`
  if (g.chance(0.2)) req.headers['accept-encoding'] = g.pick(['gzip', 'br', 'identity', 'gzip, br', '*'])
  return req
}

function randomPath(g: ValueGen, w: GenWorld): string {
  if (g.chance(0.15)) return g.pick(ROUTES)
  const nsid = g.chance(0.7) ? g.pick(w.catalogue.served).nsid : g.chance(0.5) ? g.pick(w.catalogue.proxied).nsid : g.pick(['com.example.nope', 'a.b', 'x', '..', 'café.test', 'a-.b'])
  let path = `/xrpc/${nsid}`
  if (g.chance(0.1)) path += '/'
  const parts: string[] = []
  for (let i = 0; i < g.int(0, 4); i++) parts.push(`${encodeURIComponent(g.pick(PARAM_NAMES))}=${encodeURIComponent(g.pick([...PARAM_VALUES, ...g.pools.dids]))}`)
  if (g.chance(0.1)) parts.push('%E0%A4%A=broken&&=&a[]=1')
  return parts.length > 0 ? `${path}?${parts.join('&')}` : path
}

function randomBody(g: ValueGen): Buffer | undefined {
  const r = g.rand()
  if (r < 0.25) return undefined
  if (r < 0.5) return Buffer.from(JSON.stringify(g.mutant(g.pick([{}, [], 'x', 1]))) ?? 'null')
  if (r < 0.6) return gzipSync(Buffer.from('{"repo":"x"}'))
  if (r < 0.7) return Buffer.from('{"repo": "' + 'a'.repeat(g.int(0, 200_000)) + '"}')
  return randomBytes(g, g.int(0, 3000))
}

function chaosRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const path = randomPath(g, w)
  const nsid = /^\/xrpc\/([^/?]+)/.exec(path)?.[1] ?? null
  const req: FuzzRequest = { ...base, label: 'chaos', nsid, method: g.pick(VERBS), path, auth: pickAuth(g) }
  if (g.chance(0.7)) req.headers['content-type'] = g.pick(CONTENT_TYPES)
  if (g.chance(0.2)) req.headers['content-encoding'] = g.pick(ENCODINGS)
  if (g.chance(0.2)) req.headers['x-forwarded-for'] = g.pick(['1.2.3.4', 'garbage, 10.0.0.1', '::1', '', '999.1.1.1'])
  if (g.chance(0.1)) req.headers['access-control-request-headers'] = 'authorization, x-weird'
  if (g.chance(0.1)) req.headers['atproto-proxy'] = g.pick(PROXY_HEADERS)
  if (g.chance(0.05)) req.headers['atproto-accept-labelers'] = g.pick(['did:plc:x;redact', 'x'.repeat(5000), ','])
  req.body = req.method === 'GET' || req.method === 'HEAD' ? (g.chance(0.1) ? randomBody(g) : undefined) : randomBody(g)
  if (req.body !== undefined) req.chunked = g.chance(0.5)
  return req
}

// Methods with a request body, and the limit each has.
function bodyTargets(w: GenWorld): MethodDef[] {
  return w.catalogue.served.filter((d) => d.inputEncodings !== null)
}

function limitOf(nsid: string): number {
  if (nsid === 'com.atproto.repo.uploadBlob' || nsid === 'com.atproto.repo.importRepo') return BLOB_LIMIT
  if (nsid === 'com.atproto.repo.createRecord' || nsid === 'com.atproto.repo.putRecord' || nsid === 'com.atproto.repo.applyWrites') return WRITE_JSON_LIMIT
  return JSON_LIMIT
}

/** `payload` through the encodings named (first applied first, as the header lists them). */
function encode(payload: Buffer, encodings: string[]): Buffer {
  let out = payload
  for (const e of encodings) {
    const name = e.trim().toLowerCase()
    if (name === 'gzip' || name === 'x-gzip') out = gzipSync(out)
    else if (name === 'deflate') out = deflateSync(out)
    else if (name === 'br') out = brotliCompressSync(out)
  }
  return out
}

function encodingRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const targets = bodyTargets(w)
  const heavy = ['com.atproto.repo.uploadBlob', 'com.atproto.repo.createRecord', 'com.atproto.repo.importRepo', 'app.bsky.actor.putPreferences']
  const def = g.chance(0.6) ? (targets.find((d) => d.nsid === g.pick(heavy)) ?? g.pick(targets)) : g.pick(targets)
  const req = lexiconRequest(g, base, def, w)
  req.label = 'encoding'
  req.method = def.httpMethod
  if (req.auth !== 'none' && g.chance(0.7)) req.auth = def.nsid.startsWith('com.atproto.admin.') ? 'admin' : 'access'
  const valid = validBody(g, def, w)
  const payload = valid?.body ?? Buffer.from('{}')
  if (valid) req.headers['content-type'] = valid.type
  const stack = Array.from({ length: g.int(1, 3) }, () => g.pick(['gzip', 'deflate', 'br', 'identity', 'gzip', 'x-unknown', ' GZIP ']))
  req.headers['content-encoding'] = stack.join(g.pick([', ', ',', ' ,  ']))
  const how = g.rand()
  if (how < 0.35) req.body = encode(payload, stack)
  else if (how < 0.55) req.body = payload // says encoded, is not
  else if (how < 0.7) {
    const enc = encode(payload, stack)
    req.body = enc.subarray(0, g.int(0, Math.max(0, enc.length - 1)))
  } else if (how < 0.8) req.body = encode(payload, [...stack].reverse())
  else if (how < 0.9) req.body = randomBytes(g, g.int(0, 5000))
  else req.body = Buffer.concat([encode(payload, stack), randomBytes(g, g.int(1, 64))])
  req.chunked = g.chance(0.3)
  return req
}

/** JSON text of about `size` bytes that parses (a long string inside a plausible input). */
function paddedJson(g: ValueGen, size: number): Buffer {
  const head = Buffer.from(`{"repo":${JSON.stringify(g.pick(g.pools.dids))},"collection":"app.bsky.feed.post","record":{"$type":"app.bsky.feed.post","createdAt":"2024-01-01T00:00:00.000Z","text":"`)
  const tail = Buffer.from('"}}')
  return Buffer.concat([head, Buffer.alloc(Math.max(0, size - head.length - tail.length), 0x61), tail])
}

function hugeRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const r = g.rand()
  let req: FuzzRequest
  let limit: number
  if (r < 0.15) {
    req = { ...base, nsid: null, method: 'POST', path: g.pick(['/oauth/par', '/oauth/token', '/oauth/revoke']), headers: { 'content-type': g.pick(['application/json', 'application/x-www-form-urlencoded']) } }
    limit = OAUTH_LIMIT
  } else if (r < 0.25) {
    req = proxiedRequest(g, base, w)
    req.method = 'POST'
    req.headers['content-type'] = 'application/json'
    limit = JSON_LIMIT
  } else {
    const def = g.pick(bodyTargets(w))
    req = lexiconRequest(g, base, def, w)
    req.method = def.httpMethod
    if (req.auth === 'none' || g.chance(0.5)) req.auth = def.nsid.startsWith('com.atproto.admin.') ? 'admin' : 'access'
    req.headers['content-type'] = def.jsonInput ? 'application/json' : def.nsid === 'com.atproto.repo.importRepo' ? 'application/vnd.ipld.car' : 'image/png'
    limit = limitOf(def.nsid)
  }
  req.label = 'huge'
  const size = limit + g.pick([1, 100, g.int(1000, 2 * 1024 * 1024)])
  req.body = req.headers['content-type'] === 'application/json' || req.headers['content-type'] === 'application/x-www-form-urlencoded' ? paddedJson(g, size) : randomBytes(g, 0, size)
  if (g.chance(0.15)) {
    // Small on the wire, over the limit once decoded.
    req.headers['content-encoding'] = 'gzip'
    req.body = gzipSync(req.body)
  }
  req.chunked = g.chance(0.3)
  return req
}

/** A CAR whose root block is CBOR nested `depth` arrays deep. */
export function deepCar(depth: number): Buffer {
  const block = Buffer.concat([Buffer.alloc(depth, 0x81), Buffer.from([0x80])])
  const cid = Buffer.concat([Buffer.from([0x01, 0x71, 0x12, 0x20]), createHash('sha256').update(block).digest()])
  const header = Buffer.concat([
    Buffer.from([0xa2, 0x65]),
    Buffer.from('roots'),
    Buffer.from([0x81, 0xd8, 0x2a, 0x58, 0x25, 0x00]),
    cid,
    Buffer.from([0x67]),
    Buffer.from('version'),
    Buffer.from([0x01]),
  ])
  return Buffer.concat([varint(header.length), header, varint(cid.length + block.length), cid, block])
}

function varint(n: number): Buffer {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}

function deepRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const depth = g.pick([10_000, 10_000, 5_000, 3_000, 129, 128])
  const arrays = g.chance(0.5)
  const deep = deepJsonText(depth, arrays)
  const did = g.pick(g.pools.dids.slice(0, w.accounts))
  const served = (nsid: string) => w.catalogue.served.find((d) => d.nsid === nsid) as MethodDef
  const r = g.rand()
  let def: MethodDef
  let text: string
  if (r < 0.3) {
    def = served('com.atproto.repo.createRecord')
    text = `{"repo":"${did}","collection":"${g.pick(['app.bsky.feed.post', 'com.example.fuzz.unknown'])}","validate":${g.pick(['true', 'false', 'null'])},"record":{"$type":"app.bsky.feed.post","text":"x","createdAt":"2024-01-01T00:00:00.000Z","deep":${deep}}}`
  } else if (r < 0.45) {
    def = served('com.atproto.repo.applyWrites')
    text = `{"repo":"${did}","writes":[{"$type":"com.atproto.repo.applyWrites#create","collection":"com.example.fuzz.unknown","value":{"$type":"com.example.fuzz.unknown","deep":${deep}}}]}`
  } else if (r < 0.6) {
    def = served('app.bsky.actor.putPreferences')
    text = `{"preferences":[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":true,"deep":${deep}}]}`
  } else if (r < 0.72) {
    def = served('com.atproto.repo.importRepo')
    const req = lexiconRequest(g, base, def, w)
    return { ...req, label: 'deep', method: 'POST', auth: 'access', body: deepCar(depth), headers: { 'content-type': 'application/vnd.ipld.car' } }
  } else {
    def = g.pick(bodyTargets(w).filter((d) => d.jsonInput))
    text = g.chance(0.5) ? deep : `{"${g.pick(['input', 'record', 'did', 'handle', 'preferences'])}":${deep}}`
  }
  return {
    ...base,
    label: 'deep',
    nsid: def.nsid,
    method: 'POST',
    path: `/xrpc/${def.nsid}`,
    headers: { 'content-type': 'application/json' },
    auth: def.nsid.startsWith('com.atproto.admin.') ? 'admin' : g.chance(0.9) ? 'access' : pickAuth(g),
    body: Buffer.from(text),
    chunked: g.chance(0.2),
  }
}

function abortRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const targets = ['com.atproto.repo.uploadBlob', 'com.atproto.repo.uploadBlob', 'com.atproto.repo.importRepo', 'com.atproto.repo.createRecord', 'app.bsky.actor.putPreferences']
  const nsid = g.chance(0.8) ? g.pick(targets) : g.pick(bodyTargets(w)).nsid
  const def = w.catalogue.served.find((d) => d.nsid === nsid) as MethodDef
  const req = lexiconRequest(g, base, def, w)
  req.label = 'abort'
  req.kind = 'abort'
  req.method = 'POST'
  req.auth = g.chance(0.85) ? 'access' : pickAuth(g)
  const size = g.pick([1000, 100_000, 2_000_000, 6 * 1024 * 1024])
  req.body = def.jsonInput ? paddedJson(g, size) : randomBytes(g, 0, size)
  req.headers['content-type'] = def.jsonInput ? 'application/json' : g.pick(['image/png', 'application/vnd.ipld.car', 'application/octet-stream'])
  if (g.chance(0.4)) req.headers['content-encoding'] = g.pick(['gzip', 'deflate', 'br', 'identity, gzip', 'gzip, gzip'])
  if (g.chance(0.3) && req.headers['content-encoding']) req.body = encode(req.body, req.headers['content-encoding'].split(','))
  req.abortAfter = g.pick([0, 1, 100, g.int(0, req.body.length - 1)])
  req.abortDelayMs = g.pick([0, 0, 1, 5, 30])
  req.chunked = g.chance(0.3)
  return req
}

function rawRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const path = randomPath(g, w)
  const verb = g.pick(['GET', 'POST', 'POST', 'PUT'])
  const lines = [
    g.pick([`${verb} ${path} HTTP/1.1`, `${verb} ${path} HTTP/1.0`, 'G\u0000T / HTTP/1.1', 'NONSENSE', `GET ${path} HTTP/9.9`, `POST ${path}`, `POST  ${path} HTTP/1.1`, `GET http://x${path} HTTP/1.1`]),
    g.pick(['Host: x', 'Host: localhost', 'Host:', 'host: a\tb']),
  ]
  if (g.chance(0.5)) lines.push(`Content-Length: ${g.pick(['5', '-1', 'abc', '99999999999', '0', '1, 2', '4 '])}`)
  if (g.chance(0.15)) lines.push('Content-Length: 7')
  if (g.chance(0.3)) lines.push(`Transfer-Encoding: ${g.pick(['chunked', 'gzip, chunked', 'chunked, identity', 'xchunked'])}`)
  if (g.chance(0.3)) lines.push(`Content-Type: ${g.pick(CONTENT_TYPES)}`)
  if (g.chance(0.2)) lines.push(`Content-Encoding: ${g.pick(ENCODINGS)}`)
  if (g.chance(0.2)) lines.push(`Authorization: ${g.pick(GARBAGE_AUTH)}`)
  if (g.chance(0.15)) lines.push(`X-Junk: ${'y'.repeat(g.int(0, 20_000))}`)
  if (g.chance(0.1)) lines.push('Expect: 100-continue')
  if (g.chance(0.1)) lines.push('Connection: Upgrade', 'Upgrade: websocket')
  if (!g.chance(0.3)) lines.push('Connection: close')
  const tail = g.pick([
    '',
    '{"a":',
    '5\r\nhello\r\n0\r\n\r\n',
    'zz\r\nbad chunk\r\n',
    `GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\n`,
    randomBytes(g, 50).toString('latin1'),
  ])
  return { ...base, kind: 'raw', label: 'raw', nsid: /^\/xrpc\/([^/?]+)/.exec(path)?.[1] ?? null, method: verb, path, raw: Buffer.from(lines.join('\r\n') + '\r\n\r\n' + tail, 'latin1') }
}

function wsRequest(g: ValueGen, base: FuzzRequest, w: GenWorld): FuzzRequest {
  const nsid = g.chance(0.85) ? g.pick(w.catalogue.subscriptions).nsid : g.pick(w.catalogue.served).nsid
  const cursor = g.pick(['0', '1', '-1', '9007199254740991', '9007199254740992', '99999999999999999999', 'abc', '', '1.5', '1e3', '00000001'])
  let query = cursor === '' ? '' : `?cursor=${encodeURIComponent(cursor)}`
  if (g.chance(0.2)) query += `${query ? '&' : '?'}${g.pick(PARAM_NAMES)}=${encodeURIComponent(g.pick(PARAM_VALUES))}`
  return { ...base, kind: 'ws', label: 'ws', nsid, method: 'GET', path: `/xrpc/${nsid}${query}`, auth: g.chance(0.8) ? 'none' : pickAuth(g) }
}

function routeRequest(g: ValueGen, base: FuzzRequest): FuzzRequest {
  const path = g.pick(ROUTES)
  const method = g.chance(0.6) ? (path.startsWith('/oauth/par') || path.startsWith('/oauth/token') || path.startsWith('/oauth/revoke') ? 'POST' : 'GET') : g.pick(VERBS)
  const req: FuzzRequest = { ...base, label: 'route', method, path, auth: g.chance(0.7) ? 'none' : pickAuth(g) }
  if (method === 'GET' && path === '/oauth/authorize') {
    req.path += g.pick(['', '?client_id=x', '?request_uri=urn:ietf:params:oauth:request_uri:req-' + 'a'.repeat(32) + '&client_id=http%3A%2F%2Flocalhost', '?client_id=' + 'x'.repeat(5000)])
  }
  if (method !== 'GET' && method !== 'HEAD' && g.chance(0.8)) {
    const form = g.chance(0.5)
    req.headers['content-type'] = form ? 'application/x-www-form-urlencoded' : g.pick(['application/json', 'text/plain', 'garbage'])
    const fields: Record<string, string> = {}
    for (const name of ['client_id', 'grant_type', 'code', 'refresh_token', 'token', 'redirect_uri', 'code_verifier', 'response_type', 'scope', 'state', 'csrf', 'login_hint']) {
      if (g.chance(0.3)) fields[name] = String(g.mutant(g.pick(['authorization_code', 'refresh_token', 'http://localhost', 'atproto', 'x'])))
    }
    req.body = Buffer.from(form ? new URLSearchParams(fields).toString() : JSON.stringify(fields))
    if (g.chance(0.1)) req.body = Buffer.from(form ? 'a=1&a=2&client_id=%zz' : '{"client_id":')
    if (g.chance(0.1)) {
      req.headers['content-encoding'] = g.pick(['gzip', 'br', 'deflate, gzip'])
      if (g.chance(0.5)) req.body = encode(req.body, req.headers['content-encoding'].split(','))
    }
  }
  if (g.chance(0.2)) req.headers.dpop = g.pick(['x', 'a.b.c', 'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2In0.e30.AAAA'])
  if (g.chance(0.1)) req.headers.cookie = g.pick(['dev-id=x; ses-id=y', 'a'.repeat(5000), '=;;='])
  return req
}

function randomBytes(g: ValueGen, n: number, size?: number): Buffer {
  // A big body is a repeated random block: its bytes matter less than its length.
  const length = size ?? n
  const block = Buffer.alloc(Math.min(length, 4096))
  for (let i = 0; i < block.length; i++) block[i] = g.int(0, 255)
  if (length <= block.length) return block
  const out = Buffer.alloc(length)
  for (let off = 0; off < length; off += block.length) block.copy(out, off)
  return out
}

function mutateBytes(g: ValueGen, body: Buffer): Buffer {
  if (body.length === 0) return randomBytes(g, 10)
  const r = g.rand()
  if (r < 0.4) return body.subarray(0, g.int(0, body.length - 1))
  const out = Buffer.from(body)
  for (let i = 0; i < g.int(1, 8); i++) out[g.int(0, out.length - 1)] = g.int(0, 255)
  if (r < 0.8) return out
  return Buffer.concat([out, randomBytes(g, g.int(1, 100))])
}

/** One line that says what a request is (for figures and reproduction). */
export function describeRequest(req: FuzzRequest): string {
  const headers = Object.entries(req.headers)
    .map(([k, v]) => `${k}: ${v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v}`)
    .join('; ')
  const body = req.body ? ` body ${req.body.length} B${req.chunked ? ' chunked' : ''}${req.body.length <= 200 ? ` ${JSON.stringify(req.body.toString('latin1'))}` : ` ${JSON.stringify(req.body.subarray(0, 120).toString('latin1'))}…`}` : ''
  const abort = req.kind === 'abort' ? ` abort after ${req.abortAfter} B +${req.abortDelayMs} ms` : ''
  const raw = req.raw ? ` raw ${JSON.stringify(req.raw.subarray(0, 300).toString('latin1'))}${req.raw.length > 300 ? `…(${req.raw.length})` : ''}` : ''
  const path = req.path.length > 300 ? `${req.path.slice(0, 300)}…(${req.path.length})` : req.path
  return `#${req.index} [${req.label}/${req.kind}] ${req.method} ${path} auth=${req.auth}(${req.account})${req.bypass ? '' : ' rate-limited'}${headers ? ` {${headers}}` : ''}${body}${abort}${raw}`
}
