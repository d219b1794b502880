// Resolves subtree references to decoded nodes, with a cache of decoded nodes by CID.
// The cache only saves decoding: nodes are immutable, so a cached node is always the truth.
import { type BlockSource, MissingBlockError } from '../block-map.ts'
import type { Cid } from '../cid.ts'
import { keyHeight } from './key.ts'
import { decodeNode, Leaf, type MstNode, SubRef } from './node.ts'

export interface NodeStoreOptions {
  /** Decoded nodes kept; 0 disables the cache. */
  cacheSize?: number
  /** Check every key's syntax on decode (on for untrusted input). */
  validateKeys?: boolean
}

export class NodeStore {
  private readonly cache = new Map<string, MstNode>()
  private readonly cacheSize: number
  private readonly validateKeys: boolean

  constructor(
    readonly source: BlockSource,
    opts: NodeStoreOptions = {},
  ) {
    this.cacheSize = opts.cacheSize ?? 10_000
    this.validateKeys = opts.validateKeys ?? true
  }

  /** Loads the node at `cid`, expected at `layer`. */
  load(cid: Cid, layer: number): MstNode {
    const key = cid.$link
    const hit = this.cache.get(key)
    if (hit) return hit
    const bytes = this.source.getBlock(cid)
    if (!bytes) throw new MissingBlockError(cid, 'MST node')
    const node = decodeNode(bytes, layer, cid, this.validateKeys)
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) {
        // Drop the oldest entry: a cheap FIFO approximates LRU for tree paths well enough.
        const first = this.cache.keys().next()
        if (!first.done) this.cache.delete(first.value)
      }
      this.cache.set(key, node)
    }
    return node
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
