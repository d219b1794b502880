// `node --import tsx bench/profile/repo-root-note.ts [tree]`: the CPU of noting an appended
// #commit event for repo_root (account/repo-root.ts), in process, through the AccountStore of the
// source tree given (default: this one): 200 rounds of 1,000 events, one at a time as the log
// appends them, each round written in one flush. Prints microseconds per event, three times.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(process.argv[2] ?? fileURLToPath(new URL('../../', import.meta.url)))
const { encodeCbor } = await import(path.join(root, 'src/repo/cbor.ts'))
const { cidForCbor } = await import(path.join(root, 'src/repo/cid.ts'))
const { ALICE, addAccount, tempStore } = await import(path.join(root, 'test/account/helpers.ts'))

type Row = { seq: number; did: string; eventType: string; event: Uint8Array }
const t = tempStore()
addAccount(t.store, ALICE, 'alice.test')
const rows: Row[] = Array.from({ length: 1000 }, (_, i) => ({
  seq: i + 1,
  did: ALICE,
  eventType: 'append',
  event: encodeCbor({ repo: ALICE, commit: cidForCbor(encodeCbor({ i })), rev: `3k${String(i).padStart(10, '0')}2`, ops: [] }),
}))
// Named noteCommitEvents before #sync was followed too.
const note: (rows: Row[]) => void = (t.store.noteHeadEvents ?? t.store.noteCommitEvents).bind(t.store)
for (let turn = 0; turn < 3; turn++) {
  const c0 = process.cpuUsage()
  for (let k = 0; k < 200; k++) {
    for (const row of rows) note([row])
    t.store.flushRepoRoots()
  }
  const c = process.cpuUsage(c0)
  console.log(`${root}: ${((c.user + c.system) / 200_000).toFixed(3)} µs per noted #commit (with its share of the flush)`)
}
t.cleanup()
