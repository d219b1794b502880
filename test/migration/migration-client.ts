// The documented migration steps as a client runs them, one at a time, so tests can stop after
// any step and resume (a fresh client) or roll back. Works between any two hosts, Hearth or the
// official PDS: a Side is a URL, a data directory (for the emailed tokens) and a service DID.
import assert from 'node:assert/strict'
import { AtpAgent } from '@atproto/api'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import { emailToken, pngBytes } from './helpers.ts'

export interface Side {
  url: string
  dataDir: string
  serviceDid: string
}

export interface Mover {
  did: string
  handle: string
  email: string
  password: string
  /** blob cid -> bytes, in upload order. */
  blobs: Map<string, Uint8Array>
  preferences: unknown[]
}

export const STEPS = ['createAccount', 'importRepo', 'someBlobs', 'restOfBlobs', 'signPlc', 'submitPlc', 'activate', 'deactivateOld'] as const
export type Step = (typeof STEPS)[number]

/** Steps up to and including `step`. */
export function through(step: Step): Step[] {
  return STEPS.slice(0, STEPS.indexOf(step) + 1)
}

/** The interrupted step and the ones after it. */
export function from(step: Step): Step[] {
  return STEPS.slice(STEPS.indexOf(step))
}

let counter = 0
let blobCounter = 100

/** An account on `side` with posts, images, a profile and preferences (handle `<prefix><n>.test`). */
export async function newMover(side: Side, prefix = 'mover'): Promise<Mover> {
  const n = counter++
  const handle = `${prefix}${n}.test`
  const email = `${prefix}${n}@example.com`
  const password = `${prefix}-${n}-password`
  const agent = new AtpAgent({ service: side.url })
  await agent.createAccount({ handle, email, password })
  const did = agent.session?.did as string
  sessions.set(`${side.url} ${did}`, agent)
  await agent.post({ text: `born on the old host (${n})` })
  const blobs = new Map<string, Uint8Array>()
  const images = []
  for (let i = 0; i < 2; i++) {
    const png = pngBytes(blobCounter++)
    const up = await agent.uploadBlob(png, { encoding: 'image/png' })
    blobs.set(up.data.blob.ref.toString(), png)
    images.push({ image: up.data.blob, alt: 'pixel' })
  }
  await agent.post({ text: 'pictures', embed: { $type: 'app.bsky.embed.images', images } })
  await agent.upsertProfile((p) => ({ ...p, displayName: `Mover ${n}` }))
  await agent.app.bsky.actor.putPreferences({ preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }] })
  const preferences = (await agent.app.bsky.actor.getPreferences()).data.preferences
  return { did, handle, email, password, blobs, preferences }
}

export async function login(url: string, m: Mover): Promise<AtpAgent> {
  const agent = new AtpAgent({ service: url })
  await agent.login({ identifier: m.did, password: m.password })
  return agent
}

// Logging in costs a password hash check: one session per account and host, reused.
export const sessions = new Map<string, AtpAgent>()

export async function session(url: string, m: Mover): Promise<AtpAgent> {
  let agent = sessions.get(`${url} ${m.did}`)
  if (!agent) {
    agent = await login(url, m)
    sessions.set(`${url} ${m.did}`, agent)
  }
  return agent
}

export async function snapshotRecords(agent: AtpAgent, did: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const { data } = await agent.com.atproto.repo.describeRepo({ repo: did })
  for (const collection of data.collections) {
    const list = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100 })
    for (const r of list.data.records) out.set(r.uri, r.cid)
  }
  return out
}

export { clientFailure as xrpcError } from '../helpers/xrpc-error.ts'

export async function plcData(plcUrl: string, did: string): Promise<{ services: { atproto_pds: { endpoint: string } }; verificationMethods: { atproto: string } }> {
  return (await (await fetch(`${plcUrl}/${did}/data`)).json()) as never
}

/**
 * One client running the documented steps from `from` to `to`, each step safe to re-run. A fresh
 * instance is a client that lost its state (a crashed script, a closed tab): it keeps nothing but
 * the user's password — sessions come from `sessions` only to spare password checks, and a
 * createAccount refused because the account exists logs in afresh.
 */
export class Migration {
  private oldAgent?: AtpAgent
  private newAgent?: AtpAgent
  private signed?: Record<string, unknown>
  /** What createAccount answered when the account already existed there. */
  createAccountRetry?: { status: number; error: string; message: string }

  constructor(
    readonly m: Mover,
    readonly from: Side,
    readonly to: Side,
  ) {}

  private async old(): Promise<AtpAgent> {
    this.oldAgent ??= await session(this.from.url, this.m)
    return this.oldAgent
  }

  private async new(): Promise<AtpAgent> {
    this.newAgent ??= await session(this.to.url, this.m)
    return this.newAgent
  }

  async run(step: Step): Promise<void> {
    const m = this.m
    switch (step) {
      case 'createAccount': {
        const old = await this.old()
        const auth = await old.com.atproto.server.getServiceAuth({ aud: this.to.serviceDid, lxm: 'com.atproto.server.createAccount' })
        const agent = new AtpAgent({ service: this.to.url })
        try {
          const created = await agent.com.atproto.server.createAccount(
            { handle: m.handle, email: m.email, password: m.password, did: m.did },
            { headers: { authorization: `Bearer ${auth.data.token}` }, encoding: 'application/json' },
          )
          await agent.resumeSession({ ...created.data, active: false })
          this.newAgent = agent
        } catch (err) {
          // The account is already there from an earlier attempt: log in to it instead.
          const e = err as { status?: number; error?: string; message?: string }
          this.createAccountRetry = { status: e.status ?? 0, error: e.error ?? '', message: e.message ?? '' }
          if (e.error !== 'AlreadyExists') throw err
          this.newAgent = await login(this.to.url, m)
        }
        sessions.set(`${this.to.url} ${m.did}`, this.newAgent)
        const status = await this.newAgent.com.atproto.server.checkAccountStatus()
        assert.equal(status.data.activated, false)
        return
      }
      case 'importRepo': {
        const car = await (await this.old()).com.atproto.sync.getRepo({ did: m.did })
        await (await this.new()).com.atproto.repo.importRepo(new Uint8Array(car.data), { encoding: 'application/vnd.ipld.car' })
        return
      }
      case 'someBlobs': {
        // The first blob (on a retry, uploaded a second time).
        const [cid] = [...m.blobs.keys()]
        const got = await (await this.old()).com.atproto.sync.getBlob({ did: m.did, cid })
        const up = await (await this.new()).com.atproto.repo.uploadBlob(new Uint8Array(got.data), { encoding: got.headers['content-type'] })
        assert.equal(up.data.blob.ref.toString(), cid)
        return
      }
      case 'restOfBlobs': {
        const agent = await this.new()
        let cursor: string | undefined
        do {
          const missing = await agent.com.atproto.repo.listMissingBlobs({ cursor, limit: 1 })
          for (const b of missing.data.blobs) {
            const got = await (await this.old()).com.atproto.sync.getBlob({ did: m.did, cid: b.cid })
            await agent.com.atproto.repo.uploadBlob(new Uint8Array(got.data), { encoding: got.headers['content-type'] })
          }
          cursor = missing.data.cursor
        } while (cursor)
        const prefs = await (await this.old()).app.bsky.actor.getPreferences()
        await agent.app.bsky.actor.putPreferences({ preferences: prefs.data.preferences })
        return
      }
      case 'signPlc': {
        // A client checks first whether the DID already names the new host (a resumed run).
        if (await this.didNamesNewHost()) return
        const creds = await (await this.new()).com.atproto.identity.getRecommendedDidCredentials()
        const old = await this.old()
        await old.com.atproto.identity.requestPlcOperationSignature()
        const token = emailToken(this.from.dataDir, m.did, 'plc_operation')
        const signed = await old.com.atproto.identity.signPlcOperation({ token, ...creds.data })
        this.signed = signed.data.operation as Record<string, unknown>
        return
      }
      case 'submitPlc': {
        if (await this.didNamesNewHost()) return
        assert.ok(this.signed, 'no signed operation')
        await (await this.new()).com.atproto.identity.submitPlcOperation({ operation: this.signed })
        return
      }
      case 'activate':
        await (await this.new()).com.atproto.server.activateAccount()
        return
      case 'deactivateOld':
        await (await this.old()).com.atproto.server.deactivateAccount({})
        return
    }
  }

  private async didNamesNewHost(): Promise<boolean> {
    const status = await (await this.new()).com.atproto.server.checkAccountStatus()
    return status.data.validDid
  }

  async runAll(steps: readonly Step[]): Promise<void> {
    for (const step of steps) await this.run(step)
  }
}

/** What the account holds on `url`, which must be its active home. */
export async function assertServes(url: string, m: Mover, records: Map<string, string>, plcUrl: string): Promise<void> {
  const agent = await session(url, m)
  const status = await agent.com.atproto.server.checkAccountStatus()
  assert.equal(status.data.activated, true)
  assert.equal(status.data.validDid, true)
  assert.equal(status.data.indexedRecords, records.size)
  assert.equal(status.data.expectedBlobs, m.blobs.size)
  assert.equal(status.data.importedBlobs, m.blobs.size)
  assert.deepEqual(await snapshotRecords(agent, m.did), records)
  for (const [cid, bytes] of m.blobs) {
    const got = await agent.com.atproto.sync.getBlob({ did: m.did, cid })
    assert.deepEqual(new Uint8Array(got.data), bytes)
  }
  assert.deepEqual((await agent.app.bsky.actor.getPreferences()).data.preferences, m.preferences)
  const data = await plcData(plcUrl, m.did)
  assert.equal(data.services.atproto_pds.endpoint, url)
  // A write, and the whole repo verifies against the DID's current key.
  const post = await agent.post({ text: `still here on ${url}` })
  const car = await agent.com.atproto.sync.getRepo({ did: m.did })
  const { root, blocks } = await readCarWithRoot(new Uint8Array(car.data))
  const verified = await verifyRepo(blocks, root, m.did, data.verificationMethods.atproto)
  assert.equal(verified.creates.length, records.size + 1)
  assert.ok(verified.creates.some((c) => post.uri.endsWith(`${c.collection}/${c.rkey}`)))
}

