// The crash test: Hearth as its own process (the bundle) on a data directory on disk, writers on
// several accounts under load (createRecord, applyWrites, putRecord, deleteRecord, concurrently),
// `kill -9` at a random (seeded) moment, restart on the same directory, and check:
//   - every acknowledged write is there: each record the server said it wrote is readable by its
//     uri and cid, each it said it deleted is gone, and nothing else is in the repo; a write in
//     flight at the kill either happened whole or not at all (an applyWrites is never half done);
//   - after the last restart, every repo verifies with @atproto/repo against the signing key of
//     its DID document, and holds exactly the records the writers know of;
//   - the firehose replayed from cursor 0 has no gap (seqs 1, 2, 3, ... without a hole), each
//     account's commits chain (`since` and `prevData` follow the previous commit), every
//     acknowledged commit is in it, and each account's last commit is its repo's head.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cborDecode, cborDecodeMulti } from '@atproto/common'
import { readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import WebSocket from 'ws'
import { freePort } from '../../bench/server/processes.ts'
import { startReferencePlc } from '../identity/helpers.ts'
import { type HearthProcess, startHearthProcess } from '../helpers/hearth-process.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { prng } from '../helpers/prng.ts'

export interface CrashOptions {
  seed: number
  cycles: number
  accounts?: number
  writersPerAccount?: number
  /** The kill comes between these many ms after the writers start. */
  killAfterMs?: [number, number]
  log?: (line: string) => void
}

export interface CrashReport {
  seed: number
  cycles: number
  acknowledged: number
  /** Writes whose outcome was unknown at the kill (settled after the restart). */
  inFlight: number
  checked: number
  events: number
  commits: number
  reposVerified: number
  records: number
  problems: string[]
  elapsedMs: number
}

const PASSWORD = 'crash-password-1'
const COLLECTIONS = ['app.bsky.feed.post', 'com.example.crash.note']

type Write =
  | { action: 'create' | 'update'; collection: string; rkey: string; value: Record<string, unknown> }
  | { action: 'delete'; collection: string; rkey: string }

interface Op {
  did: string
  writer: number
  writes: Write[]
  /** Each write's path's state before the op, as far as the writer knows. */
  before: Array<string | null>
}

interface Account {
  did: string
  handle: string
  access: string
  /** path → cid of what is there, from acknowledged writes only. */
  records: Map<string, string>
  /** Commit CIDs the server acknowledged. */
  commits: Set<string>
  /** path → the writer that created it (a writer only updates and deletes its own). */
  owner: Map<string, number>
}

class Hearth {
  proc: HearthProcess | null = null
  constructor(
    readonly dataDir: string,
    readonly plcUrl: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    this.proc = await startHearthProcess({ dataDir: this.dataDir, plcUrl: this.plcUrl, port: this.port, env: { LOG_ENABLED: 'false' } })
  }
}

async function xrpc(url: string, nsid: string, opts: { auth?: string; body?: unknown; query?: Record<string, string> } = {}) {
  const qs = opts.query ? `?${new URLSearchParams(opts.query)}` : ''
  const headers: Record<string, string> = {}
  if (opts.auth) headers.authorization = `Bearer ${opts.auth}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${url}/xrpc/${nsid}${qs}`, {
    method: opts.body === undefined ? 'GET' : 'POST',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(30_000),
  })
  const bytes = new Uint8Array(await res.arrayBuffer())
  let json: Record<string, any> = {}
  try {
    json = JSON.parse(Buffer.from(bytes).toString()) as Record<string, any>
  } catch {
    // a CAR
  }
  return { status: res.status, json, bytes }
}

async function must(url: string, nsid: string, opts: Parameters<typeof xrpc>[2] = {}) {
  const r = await xrpc(url, nsid, opts)
  if (r.status !== 200) throw new Error(`${nsid} answered ${r.status}: ${JSON.stringify(r.json)}`)
  return r.json
}

export async function runCrash(opts: CrashOptions): Promise<CrashReport> {
  const log = opts.log ?? ((line: string) => console.log(line))
  const rand = prng(opts.seed)
  const int = (min: number, max: number) => min + Math.floor(rand() * (max - min + 1))
  const nAccounts = opts.accounts ?? 4
  const writersPer = opts.writersPerAccount ?? 2
  const [killMin, killMax] = opts.killAfterMs ?? [300, 2500]
  const report: CrashReport = { seed: opts.seed, cycles: 0, acknowledged: 0, inFlight: 0, checked: 0, events: 0, commits: 0, reposVerified: 0, records: 0, problems: [], elapsedMs: 0 }
  const started = Date.now()
  const plc = await startReferencePlc()
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-crash-'))
  const hearth = new Hearth(dataDir, plc.url, await freePort())
  const problem = (text: string) => {
    report.problems.push(text)
    log(`  PROBLEM: ${text}`)
  }
  try {
    await hearth.start()
    log(`crash: seed ${opts.seed}, ${opts.cycles} cycles, ${nAccounts} accounts x ${writersPer} writers, data in ${dataDir}`)
    const accounts: Account[] = []
    for (let i = 0; i < nAccounts; i++) {
      const handle = `crash${i}.test`
      const created = await must(hearth.url, 'com.atproto.server.createAccount', { body: { handle, email: `${handle}@example.com`, password: PASSWORD } })
      accounts.push({ did: created.did, handle, access: created.accessJwt, records: new Map(), commits: new Set([]), owner: new Map() })
    }
    let counter = 0

    for (let cycle = 1; cycle <= opts.cycles; cycle++) {
      const url = hearth.url
      let killed = false
      const inFlight = new Set<Op>()
      let acknowledged = 0
      // Each writer owns the records it creates, so no two writers race on one path.
      const writer = async (account: Account, w: number) => {
        const mine: string[] = [...account.records.keys()].filter((p) => account.owner.get(p) === w)
        while (!killed) {
          const op = nextOp(account, mine, w, () => tid(counter++))
          inFlight.add(op)
          let res: Awaited<ReturnType<typeof xrpc>>
          try {
            res = await send(url, account, op)
          } catch (err) {
            // The process died under the request: its outcome is settled after the restart.
            if (!killed) problem(`cycle ${cycle}: ${describeOp(op)} failed before the kill: ${(err as Error).message}`)
            return
          }
          inFlight.delete(op)
          if (res.status !== 200) {
            // Every write the writers make is valid: any refusal is a problem.
            problem(`cycle ${cycle}: ${describeOp(op)} answered ${res.status} ${JSON.stringify(res.json)}`)
            continue
          }
          acknowledged++
          applyAcknowledged(account, op, res.json, mine, w)
        }
      }
      const nextOp = (account: Account, mine: string[], w: number, rkey: () => string): Op => {
        const r = rand()
        const value = (i: number) => ({ $type: COLLECTIONS[i % 2], text: `cycle ${cycle} #${counter}`, createdAt: new Date().toISOString() })
        const create = (): Write => {
          const c = int(0, 1)
          return { action: 'create', collection: COLLECTIONS[c], rkey: rkey(), value: value(c) }
        }
        const existing = (): [string, string] | null => (mine.length === 0 ? null : (mine[int(0, mine.length - 1)].split('/') as [string, string]))
        const writes: Write[] = []
        if (r < 0.45 || mine.length < 3) writes.push(create())
        else if (r < 0.7) {
          const seen = new Set<string>()
          for (let i = 0; i < int(2, 5); i++) {
            const e = existing()
            const kind = rand()
            if (kind < 0.5 || !e || seen.has(e.join('/'))) writes.push(create())
            else {
              seen.add(e.join('/'))
              if (kind < 0.75) writes.push({ action: 'update', collection: e[0], rkey: e[1], value: value(COLLECTIONS.indexOf(e[0])) })
              else writes.push({ action: 'delete', collection: e[0], rkey: e[1] })
            }
          }
        } else {
          const e = existing() as [string, string]
          if (r < 0.85) writes.push({ action: 'update', collection: e[0], rkey: e[1], value: value(COLLECTIONS.indexOf(e[0])) })
          else writes.push({ action: 'delete', collection: e[0], rkey: e[1] })
        }
        return { did: account.did, writer: w, writes, before: writes.map((wr) => account.records.get(`${wr.collection}/${wr.rkey}`) ?? null) }
      }

      const writers = accounts.flatMap((a) => Array.from({ length: writersPer }, (_, w) => writer(a, w)))
      const killAt = int(killMin, killMax)
      await new Promise((r) => setTimeout(r, killAt))
      killed = true
      await hearth.proc?.kill9()
      await Promise.all(writers)
      report.acknowledged += acknowledged
      report.inFlight += inFlight.size
      for (const line of hearth.proc?.lines ?? []) if (line.includes('last-resort handler')) problem(`cycle ${cycle}: ${line}`)
      await hearth.start()
      report.cycles++

      // Writes in flight at the kill: each happened whole or not at all.
      for (const op of inFlight) {
        const account = accounts.find((a) => a.did === op.did) as Account
        const now = await Promise.all(op.writes.map((w) => currentCid(hearth.url, op.did, w)))
        const applied = op.writes.map((w, i) => (w.action === 'delete' ? now[i] === null : now[i] !== null && now[i] !== op.before[i]))
        if (applied.some((a) => a) && !applied.every((a) => a)) {
          problem(`cycle ${cycle}: ${describeOp(op)} was half applied (${applied.join(',')})`)
        }
        op.writes.forEach((w, i) => {
          const path = `${w.collection}/${w.rkey}`
          if (now[i] === null) account.records.delete(path)
          else {
            account.records.set(path, now[i] as string)
            if (!account.owner.has(path)) account.owner.set(path, op.writer)
          }
        })
      }
      // Every acknowledged write is there, and nothing else.
      let checked = 0
      for (const account of accounts) {
        const listed = await listAll(hearth.url, account.did)
        for (const [path, cid] of account.records) {
          const [collection, rkey] = path.split('/')
          const got = await xrpc(hearth.url, 'com.atproto.repo.getRecord', { query: { repo: account.did, collection, rkey, cid } })
          checked++
          if (got.status !== 200 || got.json.cid !== cid) problem(`cycle ${cycle}: ${account.did}/${path} (cid ${cid}) is lost: getRecord answered ${got.status} ${got.json.cid ?? got.json.error}`)
          if (listed.get(path) !== cid) problem(`cycle ${cycle}: listRecords shows ${account.did}/${path} as ${listed.get(path) ?? 'absent'}, expected ${cid}`)
        }
        for (const [path, cid] of listed) {
          if (!account.records.has(path)) problem(`cycle ${cycle}: ${account.did}/${path} (cid ${cid}) is there but was deleted or never acknowledged`)
        }
      }
      report.checked += checked
      // The account table's heads (listRepos, getRepoStatus) agree with the repos, although
      // Hearth writes them behind the event log and the kill came before their batch.
      await checkHeads(`cycle ${cycle}`, accounts)
      log(`cycle ${cycle}: killed after ${killAt} ms; ${acknowledged} writes acknowledged, ${inFlight.size} in flight; ${checked} records checked after the restart`)
    }

    // The repos, against the keys of their DID documents.
    for (const account of accounts) {
      // The directory's view of the DID's current state names the key as a did:key.
      const data = (await (await fetch(`${plc.url}/${account.did}/data`)).json()) as { verificationMethods?: { atproto?: string } }
      const key = data.verificationMethods?.atproto
      if (!key) {
        problem(`${account.did}: no atproto key in its DID document`)
        continue
      }
      const car = await xrpc(hearth.url, 'com.atproto.sync.getRepo', { query: { did: account.did } })
      try {
        const verified = await verifyRepoCar(car.bytes, account.did, key)
        report.reposVerified++
        const inRepo = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
        report.records += inRepo.size
        const want = [...account.records].sort().join('\n')
        const got = [...inRepo].sort().join('\n')
        if (want !== got) problem(`${account.did}: the verified repo holds ${inRepo.size} records, the writers know of ${account.records.size}, and they differ`)
      } catch (err) {
        problem(`${account.did}: the repo does not verify: ${(err as Error).message}`)
      }
    }

    // The firehose from the start.
    const frames = await replayFirehose(hearth.url)
    report.events = frames.length
    let prevSeq = 0
    const last = new Map<string, { rev: string; data: string; cid: string }>()
    const seenCommits = new Set<string>()
    for (const { header, body } of frames) {
      if (header.op !== 1) {
        problem(`firehose: error frame ${JSON.stringify(body)}`)
        continue
      }
      if (body.seq !== prevSeq + 1) problem(`firehose: seq ${body.seq} follows ${prevSeq}`)
      prevSeq = body.seq
      if (header.t !== '#commit') continue
      report.commits++
      const { root, blocks } = await readCarWithRoot(body.blocks)
      const commit = cborDecode(blocks.get(root) as Uint8Array) as { rev: string; data: { toString(): string } }
      const cid = body.commit.toString()
      if (root.toString() !== cid) problem(`firehose: seq ${body.seq}: the blocks' root ${root} is not the commit ${cid}`)
      seenCommits.add(cid)
      const prev = last.get(body.repo)
      if (prev) {
        if (body.since !== prev.rev) problem(`firehose: seq ${body.seq} (${body.repo}): since ${body.since}, previous commit's rev ${prev.rev}`)
        if (body.prevData?.toString() !== prev.data) problem(`firehose: seq ${body.seq} (${body.repo}): prevData ${body.prevData}, previous commit's data ${prev.data}`)
      }
      if (body.rev !== commit.rev) problem(`firehose: seq ${body.seq}: event rev ${body.rev}, commit rev ${commit.rev}`)
      last.set(body.repo, { rev: commit.rev, data: commit.data.toString(), cid })
    }
    for (const account of accounts) {
      const head = await must(hearth.url, 'com.atproto.sync.getLatestCommit', { query: { did: account.did } })
      const tail = last.get(account.did)
      if (!tail || tail.rev !== head.rev || tail.cid !== head.cid) problem(`firehose: ${account.did}'s last commit is ${tail?.rev} ${tail?.cid}, its repo is at ${head.rev} ${head.cid}`)
      const missing = [...account.commits].filter((c) => !seenCommits.has(c))
      if (missing.length > 0) problem(`firehose: ${missing.length} acknowledged commits of ${account.did} are not in it (e.g. ${missing[0]})`)
    }
    await checkHeads('after the last restart', accounts)
    const heads = new Map<string, { cid: string; rev: string }>()
    for (const account of accounts) heads.set(account.did, (await must(hearth.url, 'com.atproto.sync.getLatestCommit', { query: { did: account.did } })) as { cid: string; rev: string })
    await hearth.proc?.stop()
    // After a clean stop the file holds every head, as the official PDS expects to find it.
    const accountDb = openDb(join(dataDir, 'account.sqlite'), { readonly: true })
    try {
      for (const [did, head] of heads) {
        const row = accountDb.prepare('SELECT "cid", "rev" FROM "repo_root" WHERE "did" = ?').get(did) as { cid: string; rev: string } | undefined
        if (row?.cid !== head.cid || row?.rev !== head.rev) problem(`after a clean stop: account.sqlite has ${did} at ${row?.rev} ${row?.cid}, its repo is at ${head.rev} ${head.cid}`)
      }
    } finally {
      accountDb.close()
    }
  } finally {
    if (hearth.proc?.alive()) await hearth.proc.kill9()
    await plc.close()
    rmSync(dataDir, { recursive: true, force: true })
    report.elapsedMs = Date.now() - started
  }
  return report

  async function checkHeads(when: string, accounts: Account[]): Promise<void> {
    const heads = new Map<string, { cid: string; rev: string }>()
    // getLatestCommit first: it opens each store, which appends any event a kill cut off.
    for (const account of accounts) heads.set(account.did, (await must(hearth.url, 'com.atproto.sync.getLatestCommit', { query: { did: account.did } })) as { cid: string; rev: string })
    const listed = await must(hearth.url, 'com.atproto.sync.listRepos', { query: { limit: '1000' } })
    for (const account of accounts) {
      const head = heads.get(account.did) as { cid: string; rev: string }
      const repo = (listed.repos as Array<{ did: string; head: string; rev: string }>).find((r) => r.did === account.did)
      if (repo?.head !== head.cid || repo?.rev !== head.rev) problem(`${when}: listRepos has ${account.did} at ${repo?.rev} ${repo?.head}, its repo is at ${head.rev} ${head.cid}`)
      const status = await must(hearth.url, 'com.atproto.sync.getRepoStatus', { query: { did: account.did } })
      if (status.rev !== head.rev) problem(`${when}: getRepoStatus has ${account.did} at ${status.rev}, its repo is at ${head.rev}`)
    }
  }

  function applyAcknowledged(account: Account, op: Op, json: Record<string, any>, mine: string[], w: number): void {
    const results: Array<{ cid?: string }> = json.results ?? [{ cid: json.cid }]
    op.writes.forEach((wr, i) => {
      const path = `${wr.collection}/${wr.rkey}`
      if (wr.action === 'delete') {
        account.records.delete(path)
        const at = mine.indexOf(path)
        if (at !== -1) mine.splice(at, 1)
      } else {
        account.records.set(path, results[i]?.cid as string)
        if (wr.action === 'create') {
          mine.push(path)
          account.owner.set(path, w)
        }
      }
    })
    const commit = json.commit?.cid
    if (commit) account.commits.add(commit)
  }
}

function send(url: string, account: Account, op: Op) {
  const auth = account.access
  if (op.writes.length > 1) {
    const writes = op.writes.map((w) => ({
      $type: `com.atproto.repo.applyWrites#${w.action}`,
      collection: w.collection,
      rkey: w.rkey,
      ...(w.action === 'delete' ? {} : { value: w.value }),
    }))
    return xrpc(url, 'com.atproto.repo.applyWrites', { auth, body: { repo: account.did, writes } })
  }
  const [w] = op.writes
  if (w.action === 'delete') return xrpc(url, 'com.atproto.repo.deleteRecord', { auth, body: { repo: account.did, collection: w.collection, rkey: w.rkey } })
  if (w.action === 'update') return xrpc(url, 'com.atproto.repo.putRecord', { auth, body: { repo: account.did, collection: w.collection, rkey: w.rkey, record: w.value } })
  return xrpc(url, 'com.atproto.repo.createRecord', { auth, body: { repo: account.did, collection: w.collection, rkey: w.rkey, record: w.value } })
}

// Record keys are TIDs (app.bsky.feed.post takes nothing else), unique across cycles and restarts:
// the clock part counts up from the test's start.
const TID_CHARS = '234567abcdefghijklmnopqrstuvwxyz'
const TID_BASE = Date.now() * 1000

function tid(n: number): string {
  let v = BigInt(TID_BASE + n) << 10n
  let s = ''
  for (let i = 0; i < 13; i++) {
    s = TID_CHARS[Number(v & 31n)] + s
    v >>= 5n
  }
  return s
}

function describeOp(op: Op): string {
  return `${op.writes.length > 1 ? 'applyWrites' : op.writes[0].action} ${op.writes.map((w) => `${w.action} ${w.collection}/${w.rkey}`).join(', ')} on ${op.did}`
}

async function currentCid(url: string, did: string, w: Write): Promise<string | null> {
  const got = await xrpc(url, 'com.atproto.repo.getRecord', { query: { repo: did, collection: w.collection, rkey: w.rkey } })
  if (got.status === 200) return got.json.cid as string
  if (got.status === 400 && got.json.error === 'RecordNotFound') return null
  throw new Error(`getRecord ${did}/${w.collection}/${w.rkey} answered ${got.status} ${JSON.stringify(got.json)}`)
}

async function listAll(url: string, did: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const collection of COLLECTIONS) {
    let cursor: string | undefined
    do {
      const page = await must(url, 'com.atproto.repo.listRecords', { query: { repo: did, collection, limit: '100', ...(cursor ? { cursor } : {}) } })
      for (const r of page.records as Array<{ uri: string; cid: string }>) out.set(r.uri.split('/').slice(3).join('/'), r.cid)
      cursor = page.records.length === 100 ? page.cursor : undefined
    } while (cursor)
  }
  return out
}

/** Every frame subscribeRepos replays from cursor 0, once it has gone quiet for a second. */
function replayFirehose(url: string): Promise<Array<{ header: { op: number; t?: string }; body: any }>> {
  return new Promise((resolve, reject) => {
    const frames: Array<{ header: { op: number; t?: string }; body: any }> = []
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
    let quiet: NodeJS.Timeout | null = null
    const done = () => {
      ws.terminate()
      resolve(frames)
    }
    const bump = () => {
      if (quiet) clearTimeout(quiet)
      quiet = setTimeout(done, 1000)
    }
    ws.on('open', bump)
    ws.on('message', (data: Buffer) => {
      const [header, body] = cborDecodeMulti(new Uint8Array(data)) as [{ op: number; t?: string }, any]
      frames.push({ header, body })
      bump()
    })
    ws.on('error', reject)
  })
}

export function formatCrashReport(r: CrashReport): string[] {
  return [
    `crash figures (seed ${r.seed}): ${r.cycles} kill -9 cycles in ${(r.elapsedMs / 1000).toFixed(1)} s`,
    `  writes acknowledged ${r.acknowledged}, in flight at a kill ${r.inFlight}, record checks after restarts ${r.checked}`,
    `  repos verified ${r.reposVerified} (${r.records} records), firehose events ${r.events} (${r.commits} commits)`,
    `  problems: ${r.problems.length}`,
    ...r.problems.map((p) => `  - ${p}`),
  ]
}
