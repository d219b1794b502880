// The blocks of a whole repo in CAR order: the commit, then the MST depth-first with each
// node's records right after it. A generator over a block source, so an export streams with
// memory bounded by the tree's depth and the node cache, whatever the repo's size.
import { type BlockSource, MissingBlockError } from './block-map.ts'
import type { Cid } from './cid.ts'
import { decodeCommit } from './commit.ts'
import { Leaf, type MstNode, SubRef } from './mst/node.ts'
import { NodeStore } from './mst/store.ts'

export function* repoBlocks(source: BlockSource, commitCid: Cid): Generator<[Cid, Uint8Array]> {
  const commitBytes = source.getBlock(commitCid)
  if (!commitBytes) throw new MissingBlockError(commitCid, 'commit')
  const commit = decodeCommit(commitBytes)
  yield [commitCid, commitBytes]
  yield* mstBlocks(source, commit.data)
}

/** The MST nodes and records under `root`, depth-first. */
export function* mstBlocks(source: BlockSource, root: Cid): Generator<[Cid, Uint8Array]> {
  // A small cache: each node is visited once, the cache only serves the root's layer lookup.
  const store = new NodeStore(source, { cacheSize: 64, validateKeys: false })
  yield* visit(store, source, store.loadRoot(root))
}

function* visit(store: NodeStore, source: BlockSource, node: MstNode): Generator<[Cid, Uint8Array]> {
  yield [node.cid as Cid, node.bytes as Uint8Array]
  for (const e of node.entries) {
    if (e instanceof Leaf) {
      const bytes = source.getBlock(e.value)
      if (!bytes) throw new MissingBlockError(e.value, `record ${e.key}`)
      yield [e.value, bytes]
    }
  }
  for (const e of node.entries) {
    if (e instanceof SubRef) yield* visit(store, source, store.resolve(e, node.layer - 1))
  }
}
