// Decoded MST nodes by CID, least recently used dropped first, shared by every tree that uses it.
// Nodes are immutable and content-addressed, so one cache may serve many repos: a node found here
// is always the truth, and one dropped is decoded again from its block when next needed.
import type { MstNode } from './node.ts'

export class NodeCache {
  readonly #nodes = new Map<string, MstNode>()

  constructor(
    /** Nodes kept at most; 0 keeps none. */
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.#nodes.size
  }

  /** The node with this CID, if kept, decoded at `layer` (a node of another layer is a miss). */
  get(link: string, layer: number): MstNode | undefined {
    const node = this.#nodes.get(link)
    if (node === undefined || node.layer !== layer) return undefined
    // Move it to the young end: Map iteration order is insertion order.
    this.#nodes.delete(link)
    this.#nodes.set(link, node)
    return node
  }

  set(link: string, node: MstNode): void {
    if (this.capacity <= 0) return
    this.#nodes.delete(link)
    this.#nodes.set(link, node)
    if (this.#nodes.size > this.capacity) {
      const oldest = this.#nodes.keys().next()
      if (!oldest.done) this.#nodes.delete(oldest.value)
    }
  }

  clear(): void {
    this.#nodes.clear()
  }
}
