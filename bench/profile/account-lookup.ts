// `node --import tsx bench/profile/account-lookup.ts`: CPU per account lookup of a repo read,
// in process, in an account.sqlite of 2,000 accounts: the whole row (getAccount, actor joined
// with account) against the DID and state columns alone (getAccountState), by DID and by handle.
// The four take turns in each round, so that a busy machine weighs on each alike.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { openAccountDb } from '../../src/account/db.ts'
import { AccountStore } from '../../src/account/store.ts'

const N = 200_000
const ACCOUNTS = 2000
const dir = mkdtempSync(path.join(tmpdir(), 'hearth-bench-lookup-'))
const db = openAccountDb(path.join(dir, 'account.sqlite'))
try {
  const s = new AccountStore(db, { hostname: 'bench.test' })
  for (let i = 0; i < ACCOUNTS; i++) {
    s.createAccount({ did: `did:plc:lookup${i}`, handle: `a${i}.bench.test`, email: `a${i}@bench.test`, passwordHash: 'x', repoCid: 'bafy', repoRev: 'r' })
  }
  const kinds: [string, () => unknown][] = [
    ['getAccount by DID', () => s.getAccount('did:plc:lookup1234')],
    ['getAccountState by DID', () => s.getAccountState('did:plc:lookup1234')],
    ['getAccount by handle', () => s.getAccount('a1234.bench.test')],
    ['getAccountState by handle', () => s.getAccountState('a1234.bench.test')],
  ]
  const ns = new Map<string, number[]>(kinds.map(([name]) => [name, []]))
  for (let round = 0; round < 6; round++) {
    for (const [name, fn] of kinds) {
      const before = process.cpuUsage()
      for (let i = 0; i < N; i++) fn()
      const used = process.cpuUsage(before)
      if (round > 0) ns.get(name)!.push(((used.user + used.system) / N) * 1000)
    }
  }
  console.log(`CPU per lookup, ${N.toLocaleString('en')} a round, ${ACCOUNTS.toLocaleString('en')} accounts; median (range) of 5 rounds`)
  for (const [name, runs] of ns) {
    runs.sort((a, b) => a - b)
    console.log(`${name.padEnd(26)} ${runs[2]!.toFixed(0)} ns (${runs[0]!.toFixed(0)}–${runs.at(-1)!.toFixed(0)})`)
  }
} finally {
  db.close()
  rmSync(dir, { recursive: true, force: true })
}
