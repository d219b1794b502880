// Record proofs (sync.getRecord): the signed commit, the MST path to a key and the record if
// present. A verifier holding only these blocks learns the record's CID, or that it is absent,
// under a commit signed by the repo's key.
import { BlockMap, type BlockSource, MissingBlockError } from './block-map.ts'
import type { Cid } from './cid.ts'
import { decodeCommit, verifyCommitSig } from './commit.ts'
import { pathNodes } from './mst/proof.ts'
import { NodeStore } from './mst/store.ts'
import { Mst } from './mst/tree.ts'

export class RecordProofError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RecordProofError'
  }
}

/** The proof blocks for `key`: commit, MST path, and the record block when present. */
export function recordProofBlocks(source: BlockSource, commitCid: Cid, key: string): BlockMap {
  const blocks = new BlockMap()
  const commitBytes = source.getBlock(commitCid)
  if (!commitBytes) throw new MissingBlockError(commitCid, 'commit')
  blocks.set(commitCid, commitBytes)
  const commit = decodeCommit(commitBytes)
  const tree = Mst.load(new NodeStore(source, { cacheSize: 0 }), commit.data)
  pathNodes(tree.store, tree.root, key, blocks)
  const value = tree.get(key)
  if (value) {
    const bytes = source.getBlock(value)
    if (!bytes) throw new MissingBlockError(value, `record ${key}`)
    blocks.set(value, bytes)
  }
  return blocks
}

/**
 * Checks a proof: the commit is the repo's and signed by `signingKey` (a did:key), and the
 * blocks prove `key` present (its CID is returned) or absent (null).
 */
export function verifyRecordProof(
  blocks: BlockSource,
  commitCid: Cid,
  did: string,
  signingKey: string,
  key: string,
): Cid | null {
  const commitBytes = blocks.getBlock(commitCid)
  if (!commitBytes) throw new RecordProofError('proof lacks the commit block')
  const commit = decodeCommit(commitBytes)
  if (commit.did !== did) throw new RecordProofError(`proof commit is for ${commit.did}, not ${did}`)
  if (!verifyCommitSig(commit, signingKey)) throw new RecordProofError('proof commit signature is invalid')
  try {
    const tree = Mst.load(new NodeStore(blocks, { cacheSize: 0 }), commit.data)
    const value = tree.get(key)
    if (value && !blocks.getBlock(value)) throw new RecordProofError(`proof lacks the record block for ${key}`)
    return value
  } catch (err) {
    if (err instanceof MissingBlockError) throw new RecordProofError(`proof is incomplete: ${err.message}`)
    throw err
  }
}
