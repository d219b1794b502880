// The Merkle Search Tree: lookups, ordered listing, and edits by path copying.
//
// An `Mst` is a mutable handle on an immutable tree of nodes. Each edit rebuilds only the nodes
// on the key's path (and those a split or merge touches); everything else is shared with the
// previous version, so the old root stays valid for diffs and proofs. CIDs are not computed
// per edit: `serialize()` hashes only the nodes built since the tree was last stored, once,
// however many edits a commit holds.
import { BlockMap, type BlockSource } from '../block-map.ts'
import { type Cid, cidEquals, cidForCbor } from '../cid.ts'
import { ensureValidMstKey, keyHeight } from './key.ts'
import { emptyNode, encodeNode, type Entry, Leaf, MstNode, SubRef } from './node.ts'
import { NodeStore, type NodeStoreOptions } from './store.ts'

export class MstKeyExistsError extends Error {
  constructor(readonly key: string) {
    super(`MST already has key ${key}`)
    this.name = 'MstKeyExistsError'
  }
}
export class MstKeyNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`MST has no key ${key}`)
    this.name = 'MstKeyNotFoundError'
  }
}

export interface ListOptions {
  /** Only keys strictly greater than this one (in either direction). */
  after?: string
  /** Only keys strictly less than this one (in either direction). */
  before?: string
  /** Only keys starting with this prefix (e.g. `collection/`). */
  prefix?: string
  reverse?: boolean
  limit?: number
}

/** Finds the first leaf with key >= `key`; entries.length when none. */
export function findGte(entries: readonly Entry[], key: string): number {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]
    if (e instanceof Leaf && e.key >= key) return i
  }
  return entries.length
}

function mk(layer: number, entries: Entry[]): MstNode | null {
  return entries.length === 0 ? null : new MstNode(layer, entries)
}

export class Mst {
  /** CIDs of stored nodes that edits replaced since the last `markStored`. */
  private replaced = new Map<string, Cid>()

  private constructor(
    readonly store: NodeStore,
    public root: MstNode,
  ) {}

  static create(source: BlockSource | NodeStore, opts?: NodeStoreOptions): Mst {
    return new Mst(toStore(source, opts), emptyNode())
  }

  static load(source: BlockSource | NodeStore, root: Cid, opts?: NodeStoreOptions): Mst {
    const store = toStore(source, opts)
    return new Mst(store, store.loadRoot(root))
  }

  static fromNode(source: BlockSource | NodeStore, root: MstNode): Mst {
    return new Mst(toStore(source), root)
  }

  /** An independent handle on the same tree (edits to one do not affect the other). */
  clone(): Mst {
    const m = new Mst(this.store, this.root)
    // The constructor's map is empty and fresh; a copy is needed only when there is something to copy.
    if (this.replaced.size > 0) m.replaced = new Map(this.replaced)
    return m
  }

  private resolve(ref: SubRef, parentLayer: number): MstNode {
    return this.store.resolve(ref, parentLayer - 1)
  }

  private noteReplaced(node: MstNode): void {
    if (node.stored && node.cid) this.replaced.set(node.cid.$link, node.cid)
  }

  // ---- reads ----

  get(key: string): Cid | null {
    let node = this.root
    for (;;) {
      const entries = node.entries
      const i = findGte(entries, key)
      const e = entries[i]
      if (e instanceof Leaf && e.key === key) return e.value
      const prev = entries[i - 1]
      if (!(prev instanceof SubRef)) return null
      node = this.resolve(prev, node.layer)
    }
  }

  /** Walks leaves in key order (or reverse), calling `visit` until it returns false. */
  walk(visit: (key: string, value: Cid) => boolean | void, opts: ListOptions = {}): void {
    // Internally: keys >= min and < max. '\x00' sorts below every key character and '\x7f'
    // above, so `after`/`before` and a prefix all become such bounds.
    let min = opts.after === undefined ? undefined : opts.after + '\x00'
    let max = opts.before
    if (opts.prefix !== undefined) {
      const pMax = opts.prefix + '\x7f'
      if (min === undefined || min < opts.prefix) min = opts.prefix
      if (max === undefined || max > pMax) max = pMax
    }
    if (min !== undefined && max !== undefined && min >= max) return
    if (opts.reverse) this.walkReverse(this.root, visit, min, max)
    else this.walkForward(this.root, visit, min, max)
  }

  private walkForward(
    node: MstNode,
    visit: (key: string, value: Cid) => boolean | void,
    min: string | undefined,
    max: string | undefined,
  ): boolean {
    const entries = node.entries
    let start = 0
    if (min !== undefined) {
      start = findGte(entries, min)
      // The subtree just before the first leaf >= min may hold keys >= min.
      if (start > 0 && entries[start - 1] instanceof SubRef) start--
    }
    for (let i = start; i < entries.length; i++) {
      const e = entries[i]
      if (e instanceof Leaf) {
        if (max !== undefined && e.key >= max) return false
        if (visit(e.key, e.value) === false) return false
      } else if (!this.walkForward(this.resolve(e, node.layer), visit, min, max)) {
        return false
      }
    }
    return true
  }

  private walkReverse(
    node: MstNode,
    visit: (key: string, value: Cid) => boolean | void,
    min: string | undefined,
    max: string | undefined,
  ): boolean {
    const entries = node.entries
    // Everything from the first leaf >= max on is out; the subtree before it may hold keys < max.
    const end = max === undefined ? entries.length - 1 : findGte(entries, max) - 1
    for (let i = end; i >= 0; i--) {
      const e = entries[i]
      if (e instanceof Leaf) {
        if (min !== undefined && e.key < min) return false
        if (visit(e.key, e.value) === false) return false
      } else if (!this.walkReverse(this.resolve(e, node.layer), visit, min, max)) {
        return false
      }
    }
    return true
  }

  list(opts: ListOptions = {}): Array<{ key: string; value: Cid }> {
    const out: Array<{ key: string; value: Cid }> = []
    const limit = opts.limit ?? Infinity
    if (limit <= 0) return out
    this.walk((key, value) => {
      out.push({ key, value })
      return out.length < limit
    }, opts)
    return out
  }

  /** All leaves in order. */
  *entries(): Generator<{ key: string; value: Cid }> {
    yield* this.iterate(this.root)
  }

  private *iterate(node: MstNode): Generator<{ key: string; value: Cid }> {
    for (const e of node.entries) {
      if (e instanceof Leaf) yield { key: e.key, value: e.value }
      else yield* this.iterate(this.resolve(e, node.layer))
    }
  }

  // ---- edits ----

  add(key: string, value: Cid): void {
    ensureValidMstKey(key)
    const height = keyHeight(key)
    const root = this.root
    const leaf = new Leaf(key, value)
    if (root.isEmpty) {
      this.noteReplaced(root)
      this.root = new MstNode(height, [leaf])
      return
    }
    if (height > root.layer) {
      // The key belongs above the current root: split the whole tree around it and stack
      // intermediate single-subtree nodes for any layers skipped in between.
      let [left, right] = this.split(root, key)
      for (let layer = root.layer + 1; layer < height; layer++) {
        left = left && new MstNode(layer, [SubRef.of(left)])
        right = right && new MstNode(layer, [SubRef.of(right)])
      }
      const entries: Entry[] = []
      if (left) entries.push(SubRef.of(left))
      entries.push(leaf)
      if (right) entries.push(SubRef.of(right))
      this.root = new MstNode(height, entries)
      return
    }
    this.root = this.insert(root, leaf, height)
  }

  private insert(node: MstNode, leaf: Leaf, height: number): MstNode {
    const entries = node.entries
    const i = findGte(entries, leaf.key)
    const found = entries[i]
    if (found instanceof Leaf && found.key === leaf.key) throw new MstKeyExistsError(leaf.key)
    const prev = entries[i - 1]
    let next: Entry[]
    if (node.layer === height) {
      if (prev instanceof SubRef) {
        const [l, r] = this.split(this.resolve(prev, node.layer), leaf.key)
        next = entries.slice(0, i - 1)
        if (l) next.push(SubRef.of(l))
        next.push(leaf)
        if (r) next.push(SubRef.of(r))
        for (let j = i; j < entries.length; j++) next.push(entries[j])
      } else {
        next = entries.slice()
        next.splice(i, 0, leaf)
      }
    } else if (prev instanceof SubRef) {
      const child = this.insert(this.resolve(prev, node.layer), leaf, height)
      next = entries.slice()
      next[i - 1] = SubRef.of(child)
    } else {
      let child = new MstNode(height, [leaf])
      for (let layer = height + 1; layer < node.layer; layer++) child = new MstNode(layer, [SubRef.of(child)])
      next = entries.slice()
      next.splice(i, 0, SubRef.of(child))
    }
    this.noteReplaced(node)
    return new MstNode(node.layer, next)
  }

  /** Splits a subtree around a key it does not hold: the parts below and above it. */
  private split(node: MstNode, key: string): [MstNode | null, MstNode | null] {
    const entries = node.entries
    const i = findGte(entries, key)
    const prev = entries[i - 1]
    if (!(prev instanceof SubRef)) {
      if (i === entries.length) return [node, null]
      if (i === 0) return [null, node]
      this.noteReplaced(node)
      return [mk(node.layer, entries.slice(0, i)), mk(node.layer, entries.slice(i))]
    }
    this.noteReplaced(node)
    const [l, r] = this.split(this.resolve(prev, node.layer), key)
    const left = entries.slice(0, i - 1)
    if (l) left.push(SubRef.of(l))
    const right: Entry[] = r ? [SubRef.of(r)] : []
    for (let j = i; j < entries.length; j++) right.push(entries[j])
    return [mk(node.layer, left), mk(node.layer, right)]
  }

  update(key: string, value: Cid): void {
    this.root = this.replaceValue(this.root, key, value)
  }

  private replaceValue(node: MstNode, key: string, value: Cid): MstNode {
    const entries = node.entries
    const i = findGte(entries, key)
    const found = entries[i]
    let next: Entry[]
    if (found instanceof Leaf && found.key === key) {
      if (cidEquals(found.value, value)) return node
      next = entries.slice()
      next[i] = new Leaf(key, value)
    } else {
      const prev = entries[i - 1]
      if (!(prev instanceof SubRef)) throw new MstKeyNotFoundError(key)
      const child = this.replaceValue(this.resolve(prev, node.layer), key, value)
      if (child === prev.node) return node
      next = entries.slice()
      next[i - 1] = SubRef.of(child)
    }
    this.noteReplaced(node)
    return new MstNode(node.layer, next)
  }

  /** Adds or updates. */
  put(key: string, value: Cid): void {
    if (this.get(key)) this.update(key, value)
    else this.add(key, value)
  }

  delete(key: string): void {
    let root: MstNode = this.remove(this.root, key)
    // A root left with a lone subtree and no keys steps down to that subtree. The stored nodes
    // stepped over leave the tree with it: a chain of single-subtree nodes under the old root.
    while (root.entries.length === 1 && root.entries[0] instanceof SubRef) {
      this.noteReplaced(root)
      root = this.resolve(root.entries[0], root.layer)
    }
    this.root = root.isEmpty ? emptyNode() : root
  }

  private remove(node: MstNode, key: string): MstNode {
    const entries = node.entries
    const i = findGte(entries, key)
    const found = entries[i]
    let next: Entry[]
    if (found instanceof Leaf && found.key === key) {
      const prev = entries[i - 1]
      const after = entries[i + 1]
      if (prev instanceof SubRef && after instanceof SubRef) {
        const merged = this.merge(this.resolve(prev, node.layer), this.resolve(after, node.layer))
        next = entries.slice(0, i - 1)
        next.push(SubRef.of(merged))
        for (let j = i + 2; j < entries.length; j++) next.push(entries[j])
      } else {
        next = entries.slice()
        next.splice(i, 1)
      }
    } else {
      const prev = entries[i - 1]
      if (!(prev instanceof SubRef)) throw new MstKeyNotFoundError(key)
      const child = this.remove(this.resolve(prev, node.layer), key)
      next = entries.slice()
      if (child.isEmpty) next.splice(i - 1, 1)
      else next[i - 1] = SubRef.of(child)
    }
    this.noteReplaced(node)
    return new MstNode(node.layer, next)
  }

  /** Joins two adjacent subtrees of one layer (all keys of `a` below all keys of `b`). */
  private merge(a: MstNode, b: MstNode): MstNode {
    this.noteReplaced(a)
    this.noteReplaced(b)
    const last = a.entries[a.entries.length - 1]
    const first = b.entries[0]
    let next: Entry[]
    if (last instanceof SubRef && first instanceof SubRef) {
      const merged = this.merge(this.resolve(last, a.layer), this.resolve(first, b.layer))
      next = a.entries.slice(0, -1)
      next.push(SubRef.of(merged))
      for (let j = 1; j < b.entries.length; j++) next.push(b.entries[j])
    } else {
      next = [...a.entries, ...b.entries]
    }
    return new MstNode(a.layer, next)
  }

  // ---- hashing and storage ----

  /** The root CID, hashing any nodes built since the tree was stored. */
  rootCid(): Cid {
    return serializeNode(this.root)
  }

  /**
   * The blocks a store needs to hold this tree, given that it holds the tree as last stored:
   * every node built since, and the CIDs of stored nodes no longer in the tree. A node that
   * edits replaced and then rebuilt as it was (a key added and deleted again, a split undone by
   * a merge) is in the store already and stays there: it is neither new nor removed.
   */
  changes(): { root: Cid; newBlocks: BlockMap; removed: Cid[] } {
    const root = this.rootCid()
    const newBlocks = new BlockMap()
    collectUnstored(this.root, newBlocks)
    const removed: Cid[] = []
    for (const cid of this.replaced.values()) {
      if (newBlocks.has(cid)) newBlocks.delete(cid)
      else removed.push(cid)
    }
    return { root, newBlocks, removed }
  }

  /**
   * Called once the blocks from `changes()` are stored: the next `changes()` starts from here.
   * `detach` leaves the tree holding its root alone: the nodes below go to the store's cache,
   * which may drop them (they load again from their blocks), so that a tree kept between writes
   * does not keep every node its writes built.
   */
  markStored(opts: { detach?: boolean } = {}): void {
    this.replaced.clear()
    this.root = opts.detach ? detachStored(this.root, this.store) : restoreStored(this.root)
  }

  /** Every node block of the tree (loads the whole tree). */
  allNodeBlocks(into = new BlockMap()): BlockMap {
    this.rootCid()
    const visit = (node: MstNode): void => {
      into.set(node.cid as Cid, node.bytes as Uint8Array)
      for (const e of node.entries) if (e instanceof SubRef) visit(this.resolve(e, node.layer))
    }
    visit(this.root)
    return into
  }
}

function toStore(source: BlockSource | NodeStore, opts?: NodeStoreOptions): NodeStore {
  return source instanceof NodeStore ? source : new NodeStore(source, opts)
}

/** Computes (once) the CID of a node and of every unhashed node below it. */
export function serializeNode(node: MstNode): Cid {
  if (node.cid) return node.cid
  for (const e of node.entries) {
    if (e instanceof SubRef && !e.cid) e.cid = serializeNode(e.node as MstNode)
  }
  const bytes = encodeNode(node)
  node.bytes = bytes
  node.cid = cidForCbor(bytes)
  return node.cid
}

function collectUnstored(node: MstNode, into: BlockMap): void {
  if (node.stored) return
  into.set(node.cid as Cid, node.bytes as Uint8Array)
  for (const e of node.entries) if (e instanceof SubRef && e.node) collectUnstored(e.node, into)
}

/**
 * As restoreStored, but the rebuilt nodes refer to their subtrees by CID only, each subtree node
 * handed to the store's cache instead.
 */
function detachStored(node: MstNode, store: NodeStore): MstNode {
  if (node.stored) return node
  const entries = node.entries.map((e) => {
    if (!(e instanceof SubRef) || !e.node) return e
    const child = detachStored(e.node, store)
    store.remember(child)
    return new SubRef(child.cid, null)
  })
  const copy = new MstNode(node.layer, entries, true)
  copy.cid = node.cid
  copy.bytes = node.bytes
  return copy
}

/** Rebuilds the unstored part of the tree as stored nodes (same CIDs, flagged stored). */
function restoreStored(node: MstNode): MstNode {
  if (node.stored) return node
  const entries = node.entries.map((e) =>
    e instanceof SubRef && e.node && !e.node.stored ? SubRef.of(restoreStored(e.node)) : e,
  )
  const copy = new MstNode(node.layer, entries, true)
  copy.cid = node.cid
  copy.bytes = node.bytes
  return copy
}
