// Decoded MST nodes by CID, shared by every tree that uses it, the least recently used dropped
// first. Nodes are immutable and content-addressed, so one cache may serve many repos: a node
// found here is always the truth, and one dropped is decoded again from its block when next needed.
//
// Two generations rather than one Map kept in exact LRU order: a Map that has its oldest entry
// deleted on every insertion fills with holes that each `keys().next()` walks over until V8
// compacts it (a write took 20 µs more with a full cache). New and used nodes go to the young
// generation; when it holds half the capacity, it becomes the old one and the old one is dropped
// whole, with every node not used since.
import type { MstNode } from './node.ts'

export class NodeCache {
  #young = new Map<string, MstNode>()
  #old = new Map<string, MstNode>()
  readonly #half: number

  constructor(
    /** Nodes kept at most; 0 keeps none. */
    readonly capacity: number,
  ) {
    this.#half = Math.max(1, Math.floor(capacity / 2))
  }

  /** Nodes held now (one used in both generations counts twice): never above the capacity. */
  get size(): number {
    return this.#young.size + this.#old.size
  }

  /** The node with this CID, if kept, decoded at `layer` (a node of another layer is a miss). */
  get(link: string, layer: number): MstNode | undefined {
    let node = this.#young.get(link)
    if (node === undefined) {
      node = this.#old.get(link)
      if (node === undefined) return undefined
      this.#add(link, node)
    }
    return node.layer === layer ? node : undefined
  }

  set(link: string, node: MstNode): void {
    if (this.capacity > 0) this.#add(link, node)
  }

  /** Drops the node with this CID, if kept (a node no tree uses any more). */
  delete(link: string): void {
    this.#young.delete(link)
    this.#old.delete(link)
  }

  clear(): void {
    this.#young = new Map()
    this.#old = new Map()
  }

  #add(link: string, node: MstNode): void {
    this.#young.set(link, node)
    if (this.#young.size >= this.#half) {
      this.#old = this.#young
      this.#young = new Map()
    }
  }
}
