// What the fuzzer runs against: a local PLC directory, the fake upstream, Hearth as its own
// process (the bundle), and a few real accounts with records, a blob, invite codes and each kind
// of credential (access JWT, refresh JWT, an app-password session, admin basic auth). Fuzzed
// calls may log an account out, change its password, take it down or delete it: `repair` puts
// every account back in working order between batches, so later calls still reach handlers.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferencePlc } from '../identity/helpers.ts'
import { HEARTH_ADMIN_PASSWORD, type HearthProcess, startHearthProcess } from '../helpers/hearth-process.ts'
import { type FakeUpstream, startFakeUpstream } from './upstream.ts'
import type { Pools } from './values.ts'

export const RATE_LIMIT_BYPASS = 'fuzz-bypass-key-0123456789'
export const APPVIEW_DID = 'did:web:appview.fuzz.test'
export const MOD_DID = 'did:web:mod.fuzz.test'
export const ADMIN_AUTH = `Basic ${Buffer.from(`admin:${HEARTH_ADMIN_PASSWORD}`).toString('base64')}`
const PASSWORD = 'fuzz-password-1'
export const ACCOUNTS = 3

// A 1x1 PNG.
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
)

export interface Credentials {
  did: string
  handle: string
  access: string
  refresh: string
  /** A session made with a (non-privileged) app password. */
  appAccess: string
}

export interface World {
  hearth: HearthProcess
  upstream: FakeUpstream
  url: string
  accounts: Credentials[]
  pools: Pools
  /** A repo export (CAR) of account 0, for importRepo bodies. */
  car: Buffer
  repairs: number
  close(): Promise<void>
}

async function call(
  url: string,
  nsid: string,
  opts: { auth?: string; body?: unknown; query?: Record<string, string>; raw?: Buffer; type?: string; post?: boolean } = {},
): Promise<{ status: number; json: Record<string, unknown>; bytes: Buffer }> {
  const qs = opts.query ? `?${new URLSearchParams(opts.query)}` : ''
  const headers: Record<string, string> = { 'x-ratelimit-bypass': RATE_LIMIT_BYPASS }
  if (opts.auth) headers.authorization = opts.auth
  let body: Buffer | string | undefined
  if (opts.raw) {
    body = opts.raw
    headers['content-type'] = opts.type ?? 'application/octet-stream'
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body)
    headers['content-type'] = 'application/json'
  }
  const res = await fetch(`${url}/xrpc/${nsid}${qs}`, { method: body === undefined && !opts.post ? 'GET' : 'POST', headers, body })
  const bytes = Buffer.from(await res.arrayBuffer())
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(bytes.toString()) as Record<string, unknown>
  } catch {
    // not JSON (a CAR)
  }
  return { status: res.status, json, bytes }
}

async function must(url: string, nsid: string, opts: Parameters<typeof call>[2] = {}): Promise<Record<string, unknown>> {
  const r = await call(url, nsid, opts)
  if (r.status !== 200) throw new Error(`fuzz set-up: ${nsid} answered ${r.status} ${JSON.stringify(r.json)}`)
  return r.json
}

const bearer = (token: string) => `Bearer ${token}`

async function login(url: string, did: string, handle: string): Promise<Credentials> {
  const session = await must(url, 'com.atproto.server.createSession', { body: { identifier: did, password: PASSWORD } })
  const access = session.accessJwt as string
  const name = `fuzz-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`
  const app = await must(url, 'com.atproto.server.createAppPassword', { auth: bearer(access), body: { name } })
  const appSession = await must(url, 'com.atproto.server.createSession', { body: { identifier: did, password: app.password } })
  return { did, handle: (session.handle as string) ?? handle, access, refresh: session.refreshJwt as string, appAccess: appSession.accessJwt as string }
}

let accountCounter = 0

async function createAccount(url: string): Promise<Credentials> {
  const handle = `fz${Date.now().toString(36).slice(-5)}${accountCounter++}.test`
  const created = await must(url, 'com.atproto.server.createAccount', { body: { handle, email: `${handle}@example.com`, password: PASSWORD } })
  return login(url, created.did as string, handle)
}

export async function startWorld(opts: { env?: Record<string, string> } = {}): Promise<World> {
  const plc = await startReferencePlc()
  const upstream = await startFakeUpstream()
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-fuzz-'))
  let hearth: HearthProcess
  try {
    hearth = await startHearthProcess({
      dataDir,
      plcUrl: plc.url,
      env: {
        PDS_BSKY_APP_VIEW_URL: upstream.url,
        PDS_BSKY_APP_VIEW_DID: APPVIEW_DID,
        PDS_MOD_SERVICE_URL: upstream.url,
        PDS_MOD_SERVICE_DID: MOD_DID,
        // Limits on, so the 429 path is fuzzed too; the harness's own calls (and most fuzzed
        // ones) carry the bypass key, so the limits do not end the run early.
        PDS_RATE_LIMITS_ENABLED: 'true',
        PDS_RATE_LIMIT_BYPASS_KEY: RATE_LIMIT_BYPASS,
        ...opts.env,
      },
    })
  } catch (err) {
    await upstream.close()
    await plc.close()
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
  const url = hearth.url
  const accounts: Credentials[] = []
  for (let i = 0; i < ACCOUNTS; i++) accounts.push(await createAccount(url))

  const pools: Pools = {
    dids: [],
    handles: [],
    collections: ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow', 'app.bsky.actor.profile', 'com.example.fuzz.unknown'],
    rkeys: ['self'],
    uris: [],
    recordCids: [],
    blobCids: [],
    inviteCodes: [],
  }
  for (const a of accounts) {
    const auth = bearer(a.access)
    const blob = await must(url, 'com.atproto.repo.uploadBlob', { auth, raw: PNG, type: 'image/png' })
    const blobRef = blob.blob as { ref: { $link: string } }
    pools.blobCids.push(blobRef.ref.$link)
    const writes: Array<{ collection: string; record: Record<string, unknown> }> = [
      { collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'hello', createdAt: new Date().toISOString() } },
      {
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 'with image', createdAt: new Date().toISOString(), embed: { $type: 'app.bsky.embed.images', images: [{ image: blob.blob, alt: 'x' }] } },
      },
      { collection: 'app.bsky.graph.follow', record: { $type: 'app.bsky.graph.follow', subject: accounts[0].did, createdAt: new Date().toISOString() } },
    ]
    for (const w of writes) {
      const r = await must(url, 'com.atproto.repo.createRecord', { auth, body: { repo: a.did, ...w } })
      pools.uris.push(r.uri as string)
      pools.recordCids.push(r.cid as string)
      pools.rkeys.push((r.uri as string).split('/').pop() as string)
    }
    const profile = await must(url, 'com.atproto.repo.putRecord', {
      auth,
      body: { repo: a.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'fuzz' } },
    })
    pools.uris.push(profile.uri as string)
    pools.recordCids.push(profile.cid as string)
  }
  const like = await must(url, 'com.atproto.repo.createRecord', {
    auth: bearer(accounts[1].access),
    body: { repo: accounts[1].did, collection: 'app.bsky.feed.like', record: { $type: 'app.bsky.feed.like', subject: { uri: pools.uris[0], cid: pools.recordCids[0] }, createdAt: new Date().toISOString() } },
  })
  pools.uris.push(like.uri as string)
  const codes = await must(url, 'com.atproto.server.createInviteCodes', { auth: ADMIN_AUTH, body: { codeCount: 3, useCount: 100 } })
  for (const c of codes.codes as Array<{ codes: string[] }>) pools.inviteCodes.push(...c.codes)
  pools.dids.push(...accounts.map((a) => a.did), 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:web:example.com', 'did:web:127.0.0.1%3A1')
  pools.handles.push(...accounts.map((a) => a.handle), 'nobody.test', 'handle.invalid')
  pools.rkeys.push('3k2yihcrp6f2c', '..', 'x'.repeat(600))
  const car = (await call(url, 'com.atproto.sync.getRepo', { query: { did: accounts[0].did } })).bytes

  const world: World = {
    hearth,
    upstream,
    url,
    accounts,
    pools,
    car,
    repairs: 0,
    async close() {
      await hearth.stop()
      await upstream.close()
      await plc.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return world
}

/**
 * Puts every account back in working order: present, not taken down, active, with the
 * harness's password and fresh sessions. Returns how many needed it.
 */
export async function repairAccounts(world: World): Promise<number> {
  let repaired = 0
  for (let i = 0; i < world.accounts.length; i++) {
    const a = world.accounts[i]
    const [access, app] = await Promise.all([
      call(world.url, 'com.atproto.server.getSession', { auth: bearer(a.access) }),
      call(world.url, 'com.atproto.server.getSession', { auth: bearer(a.appAccess) }),
    ])
    if (access.status === 200 && app.status === 200 && access.json.active !== false) continue
    repaired++
    const info = await call(world.url, 'com.atproto.admin.getAccountInfo', { auth: ADMIN_AUTH, query: { did: a.did } })
    if (info.status !== 200) {
      // Deleted: a new account takes its place (the old DID stays in the pools, now unknown).
      world.accounts[i] = await createAccount(world.url)
      continue
    }
    for (const attr of ['takedown', 'deactivated']) {
      await call(world.url, 'com.atproto.admin.updateSubjectStatus', {
        auth: ADMIN_AUTH,
        body: { subject: { $type: 'com.atproto.admin.defs#repoRef', did: a.did }, [attr]: { applied: false } },
      })
    }
    await must(world.url, 'com.atproto.admin.updateAccountPassword', { auth: ADMIN_AUTH, body: { did: a.did, password: PASSWORD } })
    const fresh = await login(world.url, a.did, a.handle)
    await call(world.url, 'com.atproto.server.activateAccount', { auth: bearer(fresh.access), post: true })
    world.accounts[i] = fresh
  }
  world.repairs += repaired
  return repaired
}
