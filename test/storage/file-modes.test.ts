// Files holding secrets are the server user's alone: every SQLite file Hearth creates (accounts
// with their password hashes and tokens, the local PLC directory, the per-account stores) with
// its -wal and -shm, each account's signing `key`, and hearth-secrets.json (JWT secret, PLC
// rotation key, admin password) are created 0600, and the folders Hearth creates for them 0700,
// whatever the umask lets others read.
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { loadConfig } from '../../src/config/index.ts'
import { type Hearth, startServer } from '../../src/server.ts'

let base: string
let dataDir: string
let hearth: Hearth | undefined
const previousUmask = process.umask(0o022)

before(() => {
  base = mkdtempSync(join(tmpdir(), 'hearth-modes-'))
  dataDir = join(base, 'data') // not there yet: Hearth creates it
})
after(async () => {
  await hearth?.close()
  process.umask(previousUmask)
  rmSync(base, { recursive: true, force: true })
})

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    out.push(full)
    if (entry.isDirectory()) walk(full, out)
  }
  return out
}

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(3, '0')
}

test('a local server run leaves its secrets readable by its own user only', async () => {
  // Local mode: secrets generated into the data folder, the embedded PLC directory in plc.sqlite.
  hearth = await startServer(loadConfig({ PDS_PORT: '0', PDS_DATA_DIRECTORY: dataDir, PDS_INVITE_REQUIRED: 'false' }, { dotenv: false }))
  assert.equal(hearth.config.service.localMode, true)
  const agent = new AtpAgent({ service: hearth.url })
  await agent.createAccount({ handle: 'modes.test', email: 'modes@example.com', password: 'pw-modes-secret' })
  await agent.com.atproto.repo.createRecord({
    repo: agent.session!.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'hello', createdAt: new Date().toISOString() },
  })

  const check = (phase: string) => {
    const paths = walk(dataDir)
    const names = paths.map((p) => relative(dataDir, p))
    // The files this test is about are all there (the -wal and -shm while the server runs).
    for (const expected of ['hearth-secrets.json', 'account.sqlite', 'plc.sqlite', 'sequencer.sqlite']) {
      assert.ok(names.includes(expected), `${phase}: ${expected} in ${names.join(', ')}`)
    }
    assert.ok(names.some((n) => n.endsWith('/key')), `${phase}: an account key`)
    assert.ok(names.some((n) => n.endsWith('/store.sqlite')), `${phase}: an account store`)
    if (phase === 'running') assert.ok(names.includes('account.sqlite-wal') && names.includes('account.sqlite-shm'), names.join(', '))

    const secret = paths.filter((p) => /\.sqlite(-wal|-shm|-journal)?$|\/key$|hearth-secrets\.json$/.test(p))
    const loose = secret.filter((p) => (statSync(p).mode & 0o077) !== 0).map((p) => `${relative(dataDir, p)} ${modeOf(p)}`)
    assert.deepEqual(loose, [], `${phase}: files others can read`)

    // The folders Hearth made for them: the data folder and the account store folders.
    const dirs = [dataDir, ...paths.filter((p) => statSync(p).isDirectory() && !relative(dataDir, p).startsWith('blobs'))]
    const open = dirs.filter((d) => (statSync(d).mode & 0o077) !== 0).map((d) => `${relative(dataDir, d) || '.'} ${modeOf(d)}`)
    assert.deepEqual(open, [], `${phase}: folders others can enter`)
  }
  check('running')
  await hearth.close()
  hearth = undefined
  check('stopped')
})
