// Proofs out of a tree.
//
// `pathNodes` is what a record proof (sync.getRecord) needs: the nodes from the root down to
// the key, or down to where it would be. `coveringProof` is what a commit event must carry for
// a consumer to check the operation on `key` by inverting it (sync v1.1): the path to the key
// plus the nodes along the edges of its left and right neighbouring subtrees, which an
// inverted insert must split or an inverted delete must merge. The set matches the reference
// implementation's block for block (checked against the interop commit-proof vectors).
import { BlockMap } from '../block-map.ts'
import { Leaf, type MstNode, SubRef } from './node.ts'
import type { NodeStore } from './store.ts'
import { findGte, serializeNode } from './tree.ts'

function put(into: BlockMap, node: MstNode): void {
  // The three walks of coveringProof share their top nodes: a node already in keeps its place
  // (as a second set would leave it) without a new entry made and dropped.
  const cid = serializeNode(node)
  if (!into.has(cid)) into.set(cid, node.bytes as Uint8Array)
}

export function pathNodes(store: NodeStore, root: MstNode, key: string, into = new BlockMap()): BlockMap {
  let node = root
  for (;;) {
    put(into, node)
    const i = findGte(node.entries, key)
    const found = node.entries[i]
    if (found instanceof Leaf && found.key === key) return into
    const prev = node.entries[i - 1]
    if (!(prev instanceof SubRef)) return into
    node = store.resolve(prev, node.layer - 1)
  }
}

export function coveringProof(store: NodeStore, root: MstNode, key: string, into = new BlockMap()): BlockMap {
  forKey(store, key, into, root)
  leftSib(store, key, into, root)
  rightSib(store, key, into, root)
  return into
}

// coveringProof's three walks, as functions of their own rather than closures made per call:
// it runs for every op of every commit.

// The path down to the key. Where the key is absent and no subtree covers its place, the last
// node is left out here; the sibling walks below add it.
function forKey(store: NodeStore, key: string, into: BlockMap, node: MstNode): boolean {
  const i = findGte(node.entries, key)
  const found = node.entries[i]
  if (!(found instanceof Leaf && found.key === key)) {
    const prev = node.entries[i - 1]
    if (!(prev instanceof SubRef)) return false
    forKey(store, key, into, store.resolve(prev, node.layer - 1))
  }
  put(into, node)
  return true
}

// Down the subtree just left of the key's place, all the way to the bottom.
function leftSib(store: NodeStore, key: string, into: BlockMap, node: MstNode): void {
  const prev = node.entries[findGte(node.entries, key) - 1]
  if (prev instanceof SubRef) leftSib(store, key, into, store.resolve(prev, node.layer - 1))
  put(into, node)
}

// Down the subtree just right of the key (or the one covering its place when it is absent).
function rightSib(store: NodeStore, key: string, into: BlockMap, node: MstNode): void {
  const entries = node.entries
  const i = findGte(entries, key)
  const found = entries[i] ?? entries[i - 1]
  if (found instanceof SubRef) {
    rightSib(store, key, into, store.resolve(found, node.layer - 1))
  } else if (found instanceof Leaf) {
    const next = found.key === key ? entries[i + 1] : entries[i - 1]
    if (next instanceof SubRef) rightSib(store, key, into, store.resolve(next, node.layer - 1))
  }
  put(into, node)
}
