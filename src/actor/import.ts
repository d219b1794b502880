// com.atproto.repo.importRepo's core: a whole repo (or a later, fuller copy of it) received as
// a CAR replaces the account's repo in one transaction.
//
// As the official PDS: the CAR must have one root, the repo is diffed against the current one
// (so a re-import only touches what changed), records and their blob links are indexed, and no
// firehose event is sequenced (activateAccount announces the repo with #sync). Unlike it, Hearth
// also refuses a repo whose commit names another DID or is signed by a key the DID never held,
// and re-signs the imported tree with the account's own key under a fresh rev: what this PDS
// serves is then a commit it signed itself, valid against the DID document once the migration's
// PLC operation points at this PDS, and its rev is above every rev the old host published.
import type { Readable } from 'node:stream'
import { type BlobRefInfo, blobRefsInRecord } from './blobs.ts'
import { BlockMap, type BlockSource } from '../repo/block-map.ts'
import { CarError, readCarStream } from '../repo/car/index.ts'
import { decodeCbor } from '../repo/cbor.ts'
import { type Cid, cidEquals } from '../repo/cid.ts'
import type { CommitData } from '../repo/commit-builder.ts'
import { type Commit, encodeCommit, signCommit, verifyCommitSig } from '../repo/commit.ts'
import type { RepoOp } from '../repo/inversion.ts'
import { diffTrees, Mst, NodeStore } from '../repo/mst/index.ts'
import { isValidNsid, isValidRecordKey } from '../repo/syntax.ts'
import { defaultTidClock } from '../repo/tid.ts'
import { RepoVerificationError, verifyRepo } from '../repo/verify.ts'
import type { Db } from '../storage/sqlite.ts'
import { invalidRequest } from '../errors.ts'
import { backlinksOf } from './backlinks.ts'
import type { ActorStore, IndexOp } from './store.ts'

export interface ImportCar {
  root: Cid
  blocks: BlockMap
}

/**
 * Reads an import body into memory, refusing it (400 InvalidRequest) once it passes `maxSize`
 * bytes, when it is not a well-formed CAR, or when it has other than one root. Blocks are
 * hash-checked as they arrive; nothing touches the account until the whole body is read.
 */
export async function readImportCar(body: Readable | AsyncIterable<Uint8Array>, maxSize: number): Promise<ImportCar> {
  try {
    const car = await readCarStream(body, { maxTotalSize: maxSize })
    if (car.roots.length !== 1) {
      await car.close()
      throw invalidRequest('expected one root')
    }
    const blocks = new BlockMap()
    for await (const block of car.blocks) blocks.set(block.cid, block.bytes)
    return { root: car.roots[0], blocks }
  } catch (err) {
    if (err instanceof CarError) throw invalidRequest(`Invalid CAR file: ${err.message}`)
    throw err
  }
}

export interface ImportOptions {
  /**
   * did:keys a commit of this repo may be signed with (the DID document's key, this PDS's key for
   * the account, keys from the DID's history). Empty: the signature is not checked.
   */
  signingKeys: string[]
}

export interface ImportOutcome {
  commit: CommitData
  creates: number
  updates: number
  deletes: number
}

/**
 * Verifies the CAR against the account and applies it in one transaction. Synchronous from the
 * first read of the current head to the commit, so no write can slip in between. Throws 400
 * InvalidRequest, leaving the store untouched, for any refused repo.
 */
export function importRepoCar(store: ActorStore, car: ImportCar, opts: ImportOptions): ImportOutcome {
  const head = store.head()
  // Blocks the CAR leaves out may already be here (an incremental re-import), as the official
  // reads through to the current repo's storage.
  const source: BlockSource = {
    getBlock: (cid) => car.blocks.getBlock(cid) ?? store.getBlock(cid),
  }
  let imported: Commit
  try {
    const verified = verifyRepo(source, car.root, { did: store.did })
    imported = verified.commit
    // Every key, not only the ones that changed: the whole tree becomes this account's repo.
    for (const { key } of verified.records) checkRecordPath(key)
  } catch (err) {
    if (err instanceof RepoVerificationError) throw invalidRequest(`Invalid repo: ${err.message}`)
    throw err
  }
  if (opts.signingKeys.length > 0 && !opts.signingKeys.some((key) => verifyCommitSig(imported, key))) {
    throw invalidRequest(`Invalid repo: commit signature does not verify against any signing key of ${store.did}`)
  }

  const nodes = new NodeStore(source, { validateKeys: false, cacheSize: 0 })
  const prevData = head ? store.tree().rootCid() : null
  const nextRoot = nodes.loadRoot(imported.data)
  const diff = diffTrees(nodes, prevData ? nodes.loadRoot(prevData) : null, nextRoot)

  const newBlocks = new BlockMap()
  for (const [cid, bytes] of diff.newBlocks) newBlocks.set(cid, bytes)
  const ops: RepoOp[] = []
  const indexOps: IndexOp[] = []
  const blobLinks: Array<{ uri: string; refs: BlobRefInfo[] | null; replaces: boolean }> = []
  const removedRecordCids: Cid[] = []
  // Many keys may name one record block: it is read once, so the work follows the CAR's size.
  const readRecords = new Map<string, { backlinks: ReturnType<typeof backlinksOf>; refs: BlobRefInfo[] }>()
  const put = (key: string, cid: Cid, action: 'create' | 'update') => {
    const [collection, rkey] = splitKey(key)
    let read = readRecords.get(cid.$link)
    if (read === undefined) {
      const bytes = source.getBlock(cid) as Uint8Array // verifyRepo saw every record block
      newBlocks.set(cid, bytes)
      let record: Record<string, unknown>
      try {
        record = decodeCbor(bytes) as Record<string, unknown>
      } catch {
        throw invalidRequest(`Could not parse record at '${collection}/${rkey}'`)
      }
      read = { backlinks: backlinksOf(record), refs: refsOf(record) }
      readRecords.set(cid.$link, read)
    }
    indexOps.push({ action, collection, rkey, cid, backlinks: read.backlinks })
    blobLinks.push({ uri: `at://${store.did}/${collection}/${rkey}`, refs: read.refs, replaces: action === 'update' })
  }
  for (const c of diff.creates) {
    put(c.key, c.cid, 'create')
    ops.push({ action: 'create', path: c.key, cid: c.cid })
  }
  for (const u of diff.updates) {
    put(u.key, u.cid, 'update')
    ops.push({ action: 'update', path: u.key, cid: u.cid, prev: u.prev })
    removedRecordCids.push(u.prev)
  }
  for (const d of diff.deletes) {
    const [collection, rkey] = splitKey(d.key)
    indexOps.push({ action: 'delete', collection, rkey, cid: null })
    blobLinks.push({ uri: `at://${store.did}/${collection}/${rkey}`, refs: null, replaces: true })
    ops.push({ action: 'delete', path: d.key, cid: null, prev: d.prev })
    removedRecordCids.push(d.prev)
  }

  // Above both the current rev and the imported one, so consumers that saw the old host's revs
  // accept this host's next ones.
  const floor = head && head.rev > imported.rev ? head.rev : imported.rev
  const rev = defaultTidClock.nextAfter(floor)
  const signed = signCommit({ did: store.did, version: 3, data: imported.data, rev, prev: null }, store.keypair())
  const encoded = encodeCommit(signed)
  newBlocks.set(encoded.cid, encoded.bytes)
  const removedCids = [...diff.removedCids]
  if (head && !cidEquals(head.cid, encoded.cid)) removedCids.push(head.cid)

  const commit: CommitData = {
    did: store.did,
    cid: encoded.cid,
    bytes: encoded.bytes,
    rev,
    since: head?.rev ?? null,
    prevData,
    data: imported.data,
    newBlocks,
    removedCids,
    removedRecordCids,
    relevantBlocks: newBlocks,
    ops,
    tree: Mst.fromNode(nodes, nextRoot),
  }
  store.applyCommit(commit, indexOps, [], () => {
    for (const link of blobLinks) {
      if (link.replaces) store.blobs.unlinkRecord(link.uri)
      if (link.refs) store.blobs.linkRecordBlobs(link.uri, link.refs)
    }
  })
  // The tree handed to applyCommit reads through the CAR's blocks; reload from the store.
  store.invalidate()
  return { commit, creates: diff.creates.length, updates: diff.updates.length, deletes: diff.deletes.length }
}

/** An imported key must be a path a write could have made: collection NSID, record-key syntax. */
function checkRecordPath(key: string): void {
  const [collection, rkey] = splitKey(key)
  const shown = JSON.stringify(key.length > 100 ? `${key.slice(0, 100)}…` : key)
  if (!isValidNsid(collection)) throw invalidRequest(`Invalid repo: the collection of ${shown} is not a valid NSID`)
  if (!isValidRecordKey(rkey)) throw invalidRequest(`Invalid repo: the record key of ${shown} is not a valid record key`)
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/')
  if (slash <= 0 || slash === key.length - 1 || key.indexOf('/', slash + 1) !== -1) {
    throw invalidRequest(`Invalid repo: bad record key ${JSON.stringify(key)}`)
  }
  return [key.slice(0, slash), key.slice(slash + 1)]
}

/**
 * The record's blob refs. The official indexes legacy refs too (allowLegacy); Hearth's walker
 * refuses them on write, so a record holding one links only the modern refs it can read.
 */
function refsOf(record: Record<string, unknown>): BlobRefInfo[] {
  try {
    return blobRefsInRecord(record)
  } catch {
    return []
  }
}

/** The atproto signing keys a DID has had, from its PLC operation log (did:plc only). */
export function historicalSigningKeys(ops: unknown[]): string[] {
  const keys = new Set<string>()
  for (const entry of ops) {
    const op = (entry as { operation?: unknown }).operation ?? entry
    if (op === null || typeof op !== 'object') continue
    const o = op as { verificationMethods?: unknown; signingKey?: unknown }
    const vm = o.verificationMethods as Record<string, unknown> | undefined
    if (vm && typeof vm.atproto === 'string') keys.add(vm.atproto)
    if (typeof o.signingKey === 'string') keys.add(o.signingKey)
  }
  return [...keys]
}
