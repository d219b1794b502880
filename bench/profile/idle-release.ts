// `node --import tsx bench/profile/idle-release.ts [accounts] [records] [waves]`: what the idle
// sweep's freeing of page caches (ActorStoreManager, IDLE_RELEASE_MS) does to a host's memory, in
// process. Builds `accounts` repos of `records` posts (commits of 100 creates), then, on a new
// manager as after a restart, reads the stores in `waves` waves: each store of a wave opened and
// every record listed (listRecords pages of 100, filling its page cache as an AppView's backfill
// of an account would) and, with WRITE=1, one post committed on it; then a pause of three release
// times. Prints the process's anonymous memory
// (RssAnon) after each wave, with the sweep releasing caches after RELEASE_MS (default 300) of
// idleness and with it off (the same waves on the same stores in a second process run,
// RELEASE_MS=0), so that the two curves can be compared.
import { readFileSync, rmSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitHost, postingAccount } from './commit-host.ts'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const A = Number(process.argv[2] ?? 300)
const R = Number(process.argv[3] ?? 400)
const WAVES = Number(process.argv[4] ?? 5)
const anonMb = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

if (process.env.IDLE_RELEASE_DIR) {
  // The measuring child: the stores are built; read them in waves.
  const dir = process.env.IDLE_RELEASE_DIR
  const releaseMs = Number(process.env.RELEASE_MS ?? 300)
  const dids = JSON.parse(readFileSync(join(dir, 'dids.json'), 'utf8')) as string[]
  const { ActorStoreManager } = await import(join(ROOT, 'src/actor/manager.ts'))
  const { Sequencer } = await import(join(ROOT, 'src/sequencer/sequencer.ts'))
  const { commitWrites } = await import(join(ROOT, 'src/actor/transactor.ts'))
  const { prepareWrite } = await import(join(ROOT, 'src/repo/commit-builder.ts'))
  const write = process.env.WRITE === '1'
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, dids.length + 10, { idleReleaseMs: releaseMs > 0 ? releaseMs : 1e9 })
  const start = anonMb()
  const per = Math.ceil(dids.length / WAVES)
  const line: string[] = []
  for (let w = 0; w < WAVES; w++) {
    for (const did of dids.slice(w * per, (w + 1) * per)) {
      const store = actors.get(did)
      let cursor: string | undefined
      for (;;) {
        const page = store.listRecords('app.bsky.feed.post', { limit: 100, cursor })
        if (page.length < 100) break
        cursor = page[page.length - 1].rkey
      }
      if (write) {
        const rkey = `3lzz${String(process.pid).padStart(8, "0")}${w}`
        commitWrites(actors.get(did, { forWrite: true }), sequencer, {
          writes: [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey, record: { $type: 'app.bsky.feed.post', text: 'one more', createdAt: new Date().toISOString() } })],
        })
      }
    }
    await sleep(releaseMs > 0 ? releaseMs * 3 : 900)
    // The full collection an idle server makes (cli/idle-gc.ts): statements let go are finalized then.
    gc()
    line.push((anonMb() - start).toFixed(1))
  }
  console.log(`release ${releaseMs > 0 ? `after ${releaseMs} ms` : 'off'}${write ? ', a write on each store' : ''}: RssAnon above the start after each wave of ${per} stores: ${line.join(', ')} MB (${actors.releasedCount} of ${actors.openCount} open stores released)`)
  actors.closeAll()
  sequencer.close()
} else {
  const host = await commitHost(ROOT, 'hearth-idle-release-')
  const dids: string[] = []
  for (let a = 0; a < A; a++) {
    const did = `did:plc:idlerelease${String(a).padStart(13, '0')}`
    const { commit } = await postingAccount(host, did)
    for (let n = 0; n < R; n += 100) await commit(Math.min(100, R - n))
    dids.push(did)
  }
  host.actors.closeAll()
  host.sequencer.close()
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(host.dir, 'dids.json'), JSON.stringify(dids))
  try {
    for (const releaseMs of ['300', '0', '300', '0']) {
      const out = execFileSync(process.execPath, ['--max-semi-space-size=2', '--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), String(A), String(R), String(WAVES)], {
        encoding: 'utf8',
        env: { ...process.env, IDLE_RELEASE_DIR: host.dir, RELEASE_MS: releaseMs, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' },
      })
      process.stdout.write(out)
    }
  } finally {
    rmSync(host.dir, { recursive: true, force: true })
  }
}
