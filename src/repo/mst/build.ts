// Builds a tree from entries already sorted by key, bottom-up in one pass per layer: far
// cheaper than inserting keys one by one (used by imports and by tests as an oracle).
import type { Cid } from '../cid.ts'
import { ensureValidMstKey, keyHeight } from './key.ts'
import { type Entry, Leaf, MstNode, SubRef, emptyNode } from './node.ts'

export function buildTree(sorted: ReadonlyArray<{ key: string; value: Cid }>): MstNode {
  const n = sorted.length
  if (n === 0) return emptyNode()
  const heights = new Uint8Array(n)
  let top = 0
  for (let i = 0; i < n; i++) {
    const key = sorted[i].key
    ensureValidMstKey(key)
    if (i > 0 && key <= sorted[i - 1].key) throw new Error(`entries not sorted or duplicated at ${key}`)
    const h = keyHeight(key)
    heights[i] = h
    if (h > top) top = h
  }
  const build = (lo: number, hi: number, layer: number): MstNode => {
    const entries: Entry[] = []
    let seg = lo
    for (let i = lo; i < hi; i++) {
      if (heights[i] !== layer) continue
      if (i > seg) entries.push(SubRef.of(build(seg, i, layer - 1)))
      entries.push(new Leaf(sorted[i].key, sorted[i].value))
      seg = i + 1
    }
    if (hi > seg) entries.push(SubRef.of(build(seg, hi, layer - 1)))
    return new MstNode(layer, entries)
  }
  return build(0, n, top)
}
