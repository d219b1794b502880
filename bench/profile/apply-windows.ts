// `node --import tsx bench/profile/apply-windows.ts [windows] [calls]`: server CPU per record of
// applyWrites (10 creates per call) in successive windows of `calls` calls, on Hearth and on the
// official 0.5.35, after the bench's own prefix (50 creates of warm-up on another account, 400
// sequential creates). Shows how much of the bench's applyWrites row is warm-up.
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { BENCH_SECRETS, startHearthProcess, startOfficialProcess, type PdsProcess } from '../server/processes.ts'

const windows = Number(process.argv[2] ?? 6)
const calls = Number(process.argv[3] ?? 60)
const plc = await startReferencePlc()
let n = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `window post ${n++}: a sentence or two of ordinary length.`, createdAt: new Date().toISOString() })

async function measure(p: PdsProcess): Promise<number[]> {
  const c = xrpcClient(p.url)
  const acct = async (name: string) => (await c.call('POST', 'com.atproto.server.createAccount', { json: { handle: `${name}.pds.bench.test`, email: `${name}@bench.test`, password: 'password-x' } })) as { did: string; accessJwt: string }
  const main = await acct('aw-main')
  const warm = await acct('aw-warm')
  for (let i = 0; i < 50; i++) await c.call('POST', 'com.atproto.repo.createRecord', { token: warm.accessJwt, json: { repo: warm.did, collection: 'app.bsky.feed.post', record: post() } })
  for (let i = 0; i < 400; i++) await c.call('POST', 'com.atproto.repo.createRecord', { token: main.accessJwt, json: { repo: main.did, collection: 'app.bsky.feed.post', record: post() } })
  const out: number[] = []
  for (let w = 0; w < windows; w++) {
    const c0 = p.cpuMs() as number
    for (let i = 0; i < calls; i++) {
      const writes = Array.from({ length: 10 }, () => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post() }))
      await c.call('POST', 'com.atproto.repo.applyWrites', { token: main.accessJwt, json: { repo: main.did, writes } })
    }
    out.push(((p.cpuMs() as number) - c0) / (calls * 10))
  }
  return out
}

for (const which of (process.env.AW_SERVERS ?? 'hearth,official').split(',')) {
  const p = which === 'hearth' ? await startHearthProcess(plc.url, BENCH_SECRETS) : await startOfficialProcess(plc.url, BENCH_SECRETS, {}, '0.5.35')
  try {
    const w = await measure(p)
    console.log(which, w.map((x) => x.toFixed(3)).join(' '))
  } finally {
    await p.stop()
  }
}
await plc.close()
