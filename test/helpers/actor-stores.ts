// An event log and an actor store manager in a temporary folder, for tests that drive the actor
// layer in process (no server): the folder is removed after the test file's tests.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import type { RecordWrite } from '../../src/repo/commit-builder.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'

export interface TempActorStores {
  dir: string
  sequencer: Sequencer
  actors: ActorStoreManager
}

/** `prefix` names the folder (`hearth-<what>-`), so a leftover one says which test made it. */
export function tempActorStores(prefix: string, cacheSize = 10): TempActorStores {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, cacheSize)
  after(() => {
    actors.closeAll()
    sequencer.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { dir, sequencer, actors }
}

/** The `i`th post as a create with a fixed TID-shaped key (the same `i` gives the same write). */
export function postWrite(i: number): RecordWrite {
  return {
    action: 'create',
    collection: 'app.bsky.feed.post',
    rkey: `3k${(500000 + i).toString(36)}aaaa`,
    record: { $type: 'app.bsky.feed.post', text: `hello ${i}`, createdAt: new Date(1_700_000_000_000 + i).toISOString() },
  }
}
