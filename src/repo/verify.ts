// Full verification of a repo received from elsewhere (an import, a CAR from another PDS, a
// test): every block hashes to its CID, the commit is signed by the expected key, the MST is
// the canonical tree for its keys (layers, order, no empty nodes), and every record is present.
//
// The work is bounded by the size of what was received: a node reached twice is refused before
// it is walked again (in a tree no node can be, and a DAG of shared nodes would otherwise
// multiply the walk), and a record block many keys share is hashed and decoded once.
import { type BlockSource, MissingBlockError } from './block-map.ts'
import { bytesMatchCid, type Cid } from './cid.ts'
import { decodeCbor } from './cbor.ts'
import { type Commit, decodeCommit, verifyCommitSig } from './commit.ts'
import { keyHeight } from './mst/key.ts'
import { decodeNode, Leaf, type MstNode, SubRef } from './mst/node.ts'

export class RepoVerificationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RepoVerificationError'
  }
}

export interface VerifyOptions {
  /** The DID the commit must name. */
  did?: string
  /** The did:key the commit must be signed with; omitted: the signature is not checked. */
  signingKey?: string
  /** Also decode every record as a DAG-CBOR map (default true). */
  checkRecords?: boolean
}

export interface VerifiedRepo {
  commit: Commit
  /** Records in key order. */
  records: Array<{ key: string; cid: Cid }>
  nodeCount: number
}

export function verifyRepo(blocks: BlockSource, commitCid: Cid, opts: VerifyOptions = {}): VerifiedRepo {
  const get = (cid: Cid, what: string): Uint8Array => {
    const bytes = blocks.getBlock(cid)
    if (!bytes) throw new RepoVerificationError(`missing ${what} block ${cid.$link}`)
    if (!bytesMatchCid(cid, bytes)) throw new RepoVerificationError(`${what} block ${cid.$link} does not match its CID`)
    return bytes
  }
  let commit: Commit
  try {
    commit = decodeCommit(get(commitCid, 'commit'))
  } catch (err) {
    if (err instanceof RepoVerificationError) throw err
    throw new RepoVerificationError(`invalid commit: ${(err as Error).message}`)
  }
  if (opts.did !== undefined && commit.did !== opts.did) {
    throw new RepoVerificationError(`commit is for ${commit.did}, expected ${opts.did}`)
  }
  if (opts.signingKey !== undefined && !verifyCommitSig(commit, opts.signingKey)) {
    throw new RepoVerificationError('commit signature does not verify against the signing key')
  }

  const records: Array<{ key: string; cid: Cid }> = []
  let nodeCount = 0
  let lastKey = ''
  const checkRecords = opts.checkRecords ?? true
  const seenNodes = new Set<string>()
  const checkedRecords = new Set<string>()

  const walk = (cid: Cid, layer: number | null, isRoot: boolean): void => {
    if (seenNodes.has(cid.$link)) throw new RepoVerificationError(`MST node ${cid.$link} is referenced more than once`)
    seenNodes.add(cid.$link)
    let node: MstNode
    try {
      node = decodeNode(get(cid, 'MST node'), layer ?? 0, cid, true)
    } catch (err) {
      if (err instanceof RepoVerificationError) throw err
      throw new RepoVerificationError(`MST node ${cid.$link}: ${(err as Error).message}`)
    }
    nodeCount++
    const entries = node.entries
    if (entries.length === 0 && !isRoot) throw new RepoVerificationError(`empty MST node ${cid.$link} below the root`)
    if (isRoot && entries.length === 1 && entries[0] instanceof SubRef) {
      throw new RepoVerificationError('MST root holds only a subtree (tree not trimmed)')
    }
    let nodeLayer = layer
    for (const e of entries) {
      if (!(e instanceof Leaf)) continue
      const h = keyHeight(e.key)
      if (nodeLayer === null) nodeLayer = h
      else if (h !== nodeLayer) {
        throw new RepoVerificationError(`MST key ${e.key} has layer ${h} but sits in a node of layer ${nodeLayer}`)
      }
    }
    if (nodeLayer === null) {
      // Only the root can get here without a known layer: an empty tree.
      if (entries.length === 0) return
      throw new RepoVerificationError('MST root without keys')
    }
    for (const e of entries) {
      if (e instanceof Leaf) {
        if (records.length > 0 && e.key <= lastKey) throw new RepoVerificationError(`MST keys out of order at ${e.key}`)
        lastKey = e.key
        records.push({ key: e.key, cid: e.value })
        if (checkedRecords.has(e.value.$link)) continue
        checkedRecords.add(e.value.$link)
        const bytes = get(e.value, `record ${e.key}`)
        if (checkRecords) {
          let value: unknown
          try {
            value = decodeCbor(bytes)
          } catch (err) {
            throw new RepoVerificationError(`record ${e.key} is not valid DAG-CBOR: ${(err as Error).message}`)
          }
          if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            throw new RepoVerificationError(`record ${e.key} is not a map`)
          }
        }
      } else {
        if (nodeLayer === 0) throw new RepoVerificationError(`MST node ${cid.$link} at layer 0 has a subtree`)
        walk(e.cid as Cid, nodeLayer - 1, false)
      }
    }
  }
  try {
    walk(commit.data, null, true)
  } catch (err) {
    if (err instanceof MissingBlockError) throw new RepoVerificationError(err.message)
    throw err
  }
  return { commit, records, nodeCount }
}
