// The difference between two trees: which keys were created, updated and deleted, which node
// blocks the new tree has that the old one lacks and which old ones it no longer uses.
//
// Both trees are walked in key order side by side; whenever both cursors stand on subtrees with
// the same CID the whole subtree is skipped, so the cost follows the size of the change, not of
// the trees. Node blocks are compared as the sets of nodes each side had to open, which stays
// right even when the two walks open a shared subtree at different moments.
import { BlockMap } from '../block-map.ts'
import { type Cid, cidEquals } from '../cid.ts'
import { Leaf, type MstNode, SubRef } from './node.ts'
import type { NodeStore } from './store.ts'
import { serializeNode } from './tree.ts'

export interface MstDiff {
  creates: Array<{ key: string; cid: Cid }>
  updates: Array<{ key: string; prev: Cid; cid: Cid }>
  deletes: Array<{ key: string; prev: Cid }>
  newBlocks: BlockMap
  removedCids: Cid[]
}

interface Frame {
  node: MstNode
  i: number
}

class Cursor {
  private readonly stack: Frame[] = []
  readonly opened = new Map<string, MstNode>()

  constructor(
    private readonly store: NodeStore,
    root: MstNode | null,
  ) {
    if (root) this.open(root)
  }

  private open(node: MstNode): void {
    this.opened.set((node.cid as Cid).$link, node)
    this.stack.push({ node, i: 0 })
    this.settle()
  }

  /** Pops exhausted frames so that the top frame always points at an entry (or none is left). */
  private settle(): void {
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1]
      if (top.i < top.node.entries.length) return
      this.stack.pop()
      if (this.stack.length > 0) this.stack[this.stack.length - 1].i++
    }
  }

  get done(): boolean {
    return this.stack.length === 0
  }

  get current(): Leaf | SubRef {
    const top = this.stack[this.stack.length - 1]
    return top.node.entries[top.i]
  }

  /** The layer of the current entry: a leaf's node layer, or one below for a subtree. */
  get layer(): number {
    const top = this.stack[this.stack.length - 1]
    return top.node.entries[top.i] instanceof Leaf ? top.node.layer : top.node.layer - 1
  }

  advance(): void {
    this.stack[this.stack.length - 1].i++
    this.settle()
  }

  stepInto(): void {
    const top = this.stack[this.stack.length - 1]
    const ref = top.node.entries[top.i] as SubRef
    this.open(this.store.resolve(ref, top.node.layer - 1))
  }
}

function refCid(ref: SubRef): Cid {
  return ref.cid ?? serializeNode(ref.node as MstNode)
}

/** Diffs `next` against `prev` (null: an empty tree). Both must be serialized or storable. */
export function diffTrees(store: NodeStore, prev: MstNode | null, next: MstNode): MstDiff {
  const result: MstDiff = { creates: [], updates: [], deletes: [], newBlocks: new BlockMap(), removedCids: [] }
  serializeNode(next)
  if (prev) serializeNode(prev)
  if (prev && cidEquals(prev.cid, next.cid)) return result
  // An empty root is opened like any other node: it is a block of its tree, which the store
  // must gain when the tree empties and drop when it fills again.
  const a = new Cursor(store, prev)
  const b = new Cursor(store, next)
  while (!a.done || !b.done) {
    if (a.done) {
      const e = b.current
      if (e instanceof Leaf) {
        result.creates.push({ key: e.key, cid: e.value })
        b.advance()
      } else b.stepInto()
      continue
    }
    if (b.done) {
      const e = a.current
      if (e instanceof Leaf) {
        result.deletes.push({ key: e.key, prev: e.value })
        a.advance()
      } else a.stepInto()
      continue
    }
    const x = a.current
    const y = b.current
    if (x instanceof Leaf && y instanceof Leaf) {
      if (x.key === y.key) {
        if (!cidEquals(x.value, y.value)) result.updates.push({ key: x.key, prev: x.value, cid: y.value })
        a.advance()
        b.advance()
      } else if (x.key < y.key) {
        result.deletes.push({ key: x.key, prev: x.value })
        a.advance()
      } else {
        result.creates.push({ key: y.key, cid: y.value })
        b.advance()
      }
      continue
    }
    if (x instanceof SubRef && y instanceof SubRef) {
      if (cidEquals(refCid(x), refCid(y))) {
        a.advance()
        b.advance()
        continue
      }
      const la = a.layer
      const lb = b.layer
      if (la >= lb) a.stepInto()
      if (lb >= la) b.stepInto()
      continue
    }
    if (x instanceof SubRef) a.stepInto()
    else b.stepInto()
  }
  for (const [link, node] of b.opened) {
    if (!a.opened.has(link)) result.newBlocks.set(node.cid as Cid, node.bytes as Uint8Array)
  }
  for (const [link, node] of a.opened) {
    if (!b.opened.has(link)) result.removedCids.push(node.cid as Cid)
  }
  return result
}
