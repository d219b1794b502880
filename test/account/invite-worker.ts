// A separate process for the concurrent invite test: its own connection to account.sqlite,
// started with the others and released at once (a line on stdin), trying to use one invite code
// for several accounts. Prints {"used":n,"refused":m}.
import { createInterface } from 'node:readline'
import { openAccountDb } from '../../src/account/db.ts'
import { AccountStore } from '../../src/account/store.ts'

const [path, code, ...dids] = process.argv.slice(2)
const db = openAccountDb(path)
const store = new AccountStore(db)
process.stdout.write('ready\n')
const lines = createInterface({ input: process.stdin })
lines.once('line', () => {
  let used = 0
  let refused = 0
  for (const did of dids) {
    try {
      store.useInviteCode(code, did)
      used++
    } catch (err) {
      if ((err as { error?: string }).error !== 'InvalidInviteCode') throw err
      refused++
    }
  }
  db.close()
  process.stdout.write(`${JSON.stringify({ used, refused })}\n`)
  lines.close()
})
