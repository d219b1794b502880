// The account table's copy of a repo's head (repo_root: what sync.listRepos answers, and what the
// official PDS reads after an in-place switch) after the documented migration: createAccount with
// the existing DID, importRepo of a repo with records, activateAccount. The head moves by the
// import (no event, as official) and is announced by activation's #sync; listRepos, getRepoStatus and, after a clean stop, account.sqlite must give
// the head getLatestCommit gives. Also across a kill -9 right after activation, before the
// written-behind batch could reach the disk: the start's replay of the log must cover the #sync.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { openDb } from '../../src/storage/sqlite.ts'
import { startReferencePlc } from '../identity/helpers.ts'
import { type HearthProcess, startHearthProcess } from '../helpers/hearth-process.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { Migration, newMover, type Side, STEPS } from '../migration/migration-client.ts'

const OLD_DID = 'did:web:old.hearth.test'
const NEW_DID = 'did:web:new.hearth.test'

let plc: { url: string; close(): Promise<void> }
let oldPds: TestPds
let newProc: HearthProcess
let newDir: string
let oldSide: Side

const newEnv = () => ({
  PDS_SERVICE_DID: NEW_DID,
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'b'.repeat(63) + '2',
  PDS_JWT_SECRET: 'another-jwt-secret-for-the-new-host-0123',
})

before(async () => {
  plc = await startReferencePlc()
  oldPds = await startTestPds({ env: { PDS_SERVICE_DID: OLD_DID, PDS_DID_PLC_URL: plc.url } })
  oldSide = { url: oldPds.url, dataDir: oldPds.dataDir, serviceDid: OLD_DID }
  newDir = mkdtempSync(join(tmpdir(), 'hearth-repo-root-'))
  newProc = await startHearthProcess({ dataDir: newDir, plcUrl: plc.url, env: newEnv() })
})

after(async () => {
  await newProc?.stop()
  await oldPds?.close()
  await plc?.close()
  if (newDir) rmSync(newDir, { recursive: true, force: true })
})

const newSide = (): Side => ({ url: newProc.url, dataDir: newDir, serviceDid: NEW_DID })

/** Moves a new account from the old host to the new one, through activation. */
const moverPasswords = new Map<string, string>()

async function migrate(): Promise<string> {
  const m = await newMover(oldSide)
  moverPasswords.set(m.did, m.password)
  const old = new AtpAgent({ service: oldPds.url })
  await old.login({ identifier: m.handle, password: m.password })
  for (let i = 0; i < 12; i++) await old.post({ text: `before the move ${i}` })
  const steps = STEPS.filter((s) => s !== 'deactivateOld')
  await new Migration(m, oldSide, newSide()).runAll(steps)
  return m.did
}

async function latest(did: string): Promise<{ cid: string; rev: string }> {
  const res = await fetch(`${newProc.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)
  assert.equal(res.status, 200)
  return (await res.json()) as { cid: string; rev: string }
}

/** listRepos and getRepoStatus on the new host agree with getLatestCommit. */
async function assertServedHead(did: string, head: { cid: string; rev: string }): Promise<void> {
  const list = (await (await fetch(`${newProc.url}/xrpc/com.atproto.sync.listRepos?limit=1000`)).json()) as {
    repos: Array<{ did: string; head: string; rev: string; active: boolean }>
  }
  const listed = list.repos.find((r) => r.did === did)
  assert.ok(listed, `${did} is not in listRepos`)
  assert.deepEqual({ head: listed.head, rev: listed.rev, active: listed.active }, { head: head.cid, rev: head.rev, active: true })
  const status = (await (await fetch(`${newProc.url}/xrpc/com.atproto.sync.getRepoStatus?did=${did}`)).json()) as { active: boolean; rev?: string }
  assert.deepEqual({ active: status.active, rev: status.rev }, { active: true, rev: head.rev })
}

function accountTableHead(did: string): { cid: string; rev: string } | undefined {
  const db = openDb(join(newDir, 'account.sqlite'), { readonly: true })
  try {
    return db.prepare(`SELECT "cid", "rev" FROM "repo_root" WHERE "did" = ?`).get(did) as { cid: string; rev: string } | undefined
  } finally {
    db.close()
  }
}

async function restart(how: 'stop' | 'kill9'): Promise<void> {
  const port = newProc.port
  if (how === 'stop') await newProc.stop()
  else await newProc.kill9()
  newProc = await startHearthProcess({ dataDir: newDir, plcUrl: plc.url, port, env: newEnv() })
}

test('after importRepo and activateAccount, repo_root holds the imported head, served and on disk after a clean stop', async () => {
  const did = await migrate()
  const head = await latest(did)
  await assertServedHead(did, head)
  await newProc.stop()
  assert.deepEqual(accountTableHead(did), head)
  await restart('stop')
  await assertServedHead(did, head)
  // A commit after the move moves it on from there.
  const agent = new AtpAgent({ service: newProc.url })
  await agent.login({ identifier: did, password: moverPasswords.get(did) as string })
  await agent.post({ text: 'after the move' })
  const moved = await latest(did)
  assert.notEqual(moved.cid, head.cid)
  await assertServedHead(did, moved)
})

test('a kill -9 right after the import and activation loses no head: the start replays the #sync', async (t) => {
  const did = await migrate()
  const head = await latest(did)
  // Within the write-behind window (1 s): nothing of this head need be in account.sqlite yet.
  await newProc.kill9()
  if (accountTableHead(did)?.rev === head.rev) t.diagnostic('the head reached account.sqlite before the kill: the replay was not needed this time')
  await restart('kill9')
  await assertServedHead(did, head)
  await newProc.stop()
  assert.deepEqual(accountTableHead(did), head)
  await restart('stop')
  await assertServedHead(did, head)
})
