// The `floor` server of write-floor.ts: bare node:http (floor-http.ts) around Hearth's commit and
// nothing else. Each POST's record is committed through prepareCreate and commitPrepared on one
// account, exactly as the createRecord handler commits it (validation, CBOR, MST, signature, the
// store's transaction, the event log's append, awaited before the answer), and the answer is the
// handler's. Left out on purpose: the router, auth and the session check, the account check, the
// input's lexicon check, metrics, rate limits, the request scope. So its CPU per request is what
// any server built on this commit code would cost at least, whatever its request path. Bundled by
// write-floor.ts (as scripts/build.mjs bundles the server).
import { join } from 'node:path'
import { openAccountDb } from '../../src/account/db.ts'
import { AccountStore } from '../../src/account/store.ts'
import { followRepoRoots } from '../../src/actions/repo-roots.ts'
import { commitPrepared } from '../../src/actions/commit.ts'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { prepareCreate } from '../../src/actor/prepare.ts'
import { initRepo } from '../../src/actor/transactor.ts'
import { AccountQueues, type BlobStore } from '../../src/blob/store.ts'
import { silentLogger } from '../../src/logger.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import { floorArgs, serveFloor } from './floor-http.ts'

const { port, dir, did } = floorArgs()
const accounts = new AccountStore(openAccountDb(join(dir, 'account.sqlite')), { hostname: 'bench.test' })
const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
const actors = new ActorStoreManager(join(dir, 'actors'), sequencer)
followRepoRoots({ accounts, sequencer })
const queues = new AccountQueues()
// A post references no blob, so the commit never reaches the blob store beyond its queue.
const blobs = { serialize: <T>(did: string, fn: () => Promise<T>) => queues.run(did, fn) } as unknown as BlobStore
const services = { accounts, actors, blobs, logger: silentLogger, sequencer }
const store = actors.create(did, Secp256k1Keypair.create())
const first = initRepo(store)
accounts.updateRepoRoot(did, first.cid.$link, first.rev)

serveFloor(
  port,
  (body) => {
    const write = prepareCreate({ did, collection: body.collection, record: body.record })
    const { commit, settled } = commitPrepared(services, did, store, [write])
    return settled.then(() => ({ uri: write.uri, cid: write.cid.$link, commit: { cid: commit.cid.$link, rev: commit.rev }, validationStatus: write.validationStatus }))
  },
  () => {
    actors.closeAll()
    sequencer.close()
  },
)
