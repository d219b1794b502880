// Resolves subtree references to decoded nodes, with a cache of decoded nodes by CID.
// The cache only saves decoding: nodes are immutable, so a cached node is always the truth.
import { type BlockSource, MissingBlockError } from '../block-map.ts'
import type { Cid } from '../cid.ts'
import { NodeCache } from './cache.ts'
import { keyHeight } from './key.ts'
import { decodeNode, Leaf, type MstNode, SubRef } from './node.ts'

export interface NodeStoreOptions {
  /** Decoded nodes kept; 0 disables the cache. */
  cacheSize?: number
  /** A cache shared with other stores (then `cacheSize` is ignored). */
  cache?: NodeCache
  /** Check every key's syntax on decode (on for untrusted input). */
  validateKeys?: boolean
}

export class NodeStore {
  private readonly cache: NodeCache
  private readonly validateKeys: boolean

  constructor(
    readonly source: BlockSource,
    opts: NodeStoreOptions = {},
  ) {
    this.cache = opts.cache ?? new NodeCache(opts.cacheSize ?? 10_000)
    this.validateKeys = opts.validateKeys ?? true
  }

  /** Loads the node at `cid`, expected at `layer`. */
  load(cid: Cid, layer: number): MstNode {
    const key = cid.$link
    const hit = this.cache.get(key, layer)
    if (hit) return hit
    const bytes = this.source.getBlock(cid)
    if (!bytes) throw new MissingBlockError(cid, 'MST node')
    const node = decodeNode(bytes, layer, cid, this.validateKeys)
    this.cache.set(key, node)
    return node
  }

  /** Keeps a stored node built in memory, so that a tree no longer pointing at it finds it here. */
  remember(node: MstNode): void {
    if (node.stored && node.cid) this.cache.set(node.cid.$link, node)
  }

  /**
   * Drops a node a commit replaced (its block is deleted with that commit) from the cache: left
   * there, such nodes would fill a write-heavy server's cache until its budget, to be dropped
   * only when unused for half of it. Another repo holding an identical node decodes it again.
   */
  forget(cid: Cid): void {
    this.cache.delete(cid.$link)
  }

  /** Loads a root node, whose layer is not known from a parent. */
  loadRoot(cid: Cid): MstNode {
    const bytes = this.source.getBlock(cid)
    if (!bytes) throw new MissingBlockError(cid, 'MST root')
    // Decode once at a provisional layer to find a key; then re-wrap at the true layer.
    const probe = decodeNode(bytes, 0, cid, this.validateKeys)
    const layer = this.layerOf(probe)
    if (layer === probe.layer) return probe
    const node = decodeNode(bytes, layer, cid, this.validateKeys)
    return node
  }

  private layerOf(node: MstNode): number {
    for (const e of node.entries) if (e instanceof Leaf) return keyHeight(e.key)
    // No leaf: an empty tree (layer 0), or a node whose only entry is a subtree one layer down.
    const first = node.entries[0]
    if (first instanceof SubRef && first.cid) {
      const childBytes = this.source.getBlock(first.cid)
      if (!childBytes) throw new MissingBlockError(first.cid, 'MST node')
      return this.layerOf(decodeNode(childBytes, 0, first.cid, this.validateKeys)) + 1
    }
    return 0
  }

  resolve(ref: SubRef, layer: number): MstNode {
    if (ref.node) return ref.node
    const node = this.load(ref.cid as Cid, layer)
    return node
  }
}
