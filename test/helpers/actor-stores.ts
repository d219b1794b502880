// An event log and an actor store manager in a temporary folder, for tests that drive the actor
// layer in process (no server): the folder is removed after the test file's tests.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { ActorStoreManager } from '../../src/actor/manager.ts'
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
