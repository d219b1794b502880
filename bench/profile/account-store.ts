// `node --import tsx bench/profile/account-store.ts [tree ...]`: the CPU of the account lookups
// every request makes (getSession, getAccount) and every commit makes (the repo root), through
// the AccountStore of each source tree given (default: this one), in process, on one account in a
// fresh account.sqlite. The trees take turns, three times, so that a busy machine weighs on each
// alike; each turn prints the median and range of five timed rounds after a warm-up.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const trees = process.argv.slice(2).map((t) => path.resolve(t))
if (trees.length === 0) trees.push(fileURLToPath(new URL('../../', import.meta.url)))
const N = 200_000
const DID = 'did:plc:benchaccountstore'

async function turn(root: string): Promise<string> {
  const { openAccountDb } = await import(path.join(root, 'src/account/db.ts'))
  const { AccountStore } = await import(path.join(root, 'src/account/store.ts'))
  const dir = mkdtempSync(path.join(tmpdir(), 'hearth-bench-accounts-'))
  const db = openAccountDb(path.join(dir, 'account.sqlite'))
  try {
    const s = new AccountStore(db, { hostname: 'bench.test' })
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString()
    s.createAccount({ did: DID, handle: 'a.bench.test', email: 'a@bench.test', passwordHash: 'x', repoCid: 'bafy', repoRev: 'r', refreshToken: { id: 'tok', expiresAt } })
    const rounds: number[] = []
    for (let round = 0; round < 6; round++) {
      const before = process.cpuUsage()
      for (let i = 0; i < N; i++) {
        s.getSession('tok')
        s.getAccount(DID)
        s.getRepoRoot(DID)
      }
      const used = process.cpuUsage(before)
      if (round > 0) rounds.push(((used.user + used.system) / N) * 1000)
    }
    rounds.sort((a, b) => a - b)
    return `median ${rounds[2]!.toFixed(0)} ns (${rounds[0]!.toFixed(0)}–${rounds.at(-1)!.toFixed(0)})`
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

console.log(`CPU per getSession + getAccount + getRepoRoot, ${N.toLocaleString('en')} times a round`)
for (let i = 0; i < 3; i++) for (const root of trees) console.log(`${root}: ${await turn(root)}`)
