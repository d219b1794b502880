// MST nodes in memory and on the wire.
//
// In memory a node is the flat, in-order list of its entries: leaves and subtree references,
// never two subtrees side by side. On the wire it is `{ l, e: [{ p, k, v, t }] }`: the leftmost
// subtree, then each leaf with its key compressed against the previous one and the subtree to
// its right. Nodes are immutable once built; edits copy the path (see tree.ts), so a decoded
// node can be shared between trees and cached by CID.
import { BytesWrapper, decodeCbor } from '../cbor.ts'
import { type Cid, cidForCbor, isCid } from '../cid.ts'
import { cidSize, headerSize, writeCid, writeHeader } from '../cbor-write.ts'
import { commonPrefixLength, isValidMstKey } from './key.ts'

export class Leaf {
  constructor(
    readonly key: string,
    readonly value: Cid,
  ) {}
}

/** A subtree: known by CID (stored, maybe not loaded yet), by node (built here), or both. */
export class SubRef {
  constructor(
    public cid: Cid | null,
    public node: MstNode | null,
  ) {}
  static of(node: MstNode): SubRef {
    return new SubRef(node.cid, node)
  }
}

export type Entry = Leaf | SubRef

export class MstNode {
  /** CID and bytes, once known: read from storage, or computed by `serializeNode`. */
  cid: Cid | null = null
  bytes: Uint8Array | null = null

  constructor(
    /** Layer of this node's keys; subtrees hang one layer below. */
    readonly layer: number,
    readonly entries: readonly Entry[],
    /** False for a node built in memory that no block store holds yet. */
    readonly stored = false,
  ) {}

  get isEmpty(): boolean {
    return this.entries.length === 0
  }
}

export class MstNodeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MstNodeError'
  }
}

function subCid(ref: SubRef): Cid {
  if (!ref.cid) throw new Error('subtree not serialized before its parent')
  return ref.cid
}

// MST nodes have one fixed shape, so they are written straight into an exactly-sized buffer
// rather than through the generic encoder: the bytes are the canonical DAG-CBOR that
// the generic encoder gives for `{ l, e: [{ k, p, t, v }] }` (test/repo/mst.test.ts compares them), several times faster.

export function encodeNode(node: MstNode): Uint8Array {
  const entries = node.entries
  // Pass 1: size the entries (left subtree, then leaf + right subtree pairs). Pass 2 walks them
  // again rather than keeping the layout in arrays: three arrays per node, on every node of
  // every commit's path, cost more than computing each key's shared prefix twice.
  let first = 0
  let l: Cid | null = null
  if (entries.length > 0 && entries[0] instanceof SubRef) {
    l = subCid(entries[0])
    first = 1
  }
  let n = 0
  let size = 1 + 2 + 2 + cidSize(l) // map(2), "e", "l", l
  let prevKey = ''
  for (let i = first; i < entries.length; i++) {
    const leaf = entries[i]
    if (!(leaf instanceof Leaf)) throw new Error('MST invariant broken: two adjacent subtrees')
    const next = entries[i + 1]
    let t: Cid | null = null
    if (next instanceof SubRef) {
      t = subCid(next)
      i++
    }
    const p = commonPrefixLength(prevKey, leaf.key)
    const suffixLen = leaf.key.length - p
    size += 1 + 2 + headerSize(suffixLen) + suffixLen + 2 + headerSize(p) + 2 + cidSize(t) + 2 + cidSize(leaf.value)
    n++
    prevKey = leaf.key
  }
  size += headerSize(n)
  // Map keys in canonical order: "e" before "l"; "k", "p", "t", "v".
  const buf = new Uint8Array(size)
  let pos = 0
  buf[pos++] = 0xa2
  buf[pos++] = 0x61
  buf[pos++] = 0x65 // "e"
  pos = writeHeader(buf, pos, 4, n)
  prevKey = ''
  for (let i = first; i < entries.length; i++) {
    const leaf = entries[i] as Leaf
    const next = entries[i + 1]
    let t: Cid | null = null
    if (next instanceof SubRef) {
      t = next.cid
      i++
    }
    const key = leaf.key
    const p = commonPrefixLength(prevKey, key)
    buf[pos++] = 0xa4
    buf[pos++] = 0x61
    buf[pos++] = 0x6b // "k"
    pos = writeHeader(buf, pos, 2, key.length - p)
    for (let c = p; c < key.length; c++) buf[pos++] = key.charCodeAt(c)
    buf[pos++] = 0x61
    buf[pos++] = 0x70 // "p"
    pos = writeHeader(buf, pos, 0, p)
    buf[pos++] = 0x61
    buf[pos++] = 0x74 // "t"
    pos = writeCid(buf, pos, t)
    buf[pos++] = 0x61
    buf[pos++] = 0x76 // "v"
    pos = writeCid(buf, pos, leaf.value)
    prevKey = key
  }
  buf[pos++] = 0x61
  buf[pos++] = 0x6c // "l"
  pos = writeCid(buf, pos, l)
  if (pos !== size) throw new Error(`MST node encoding size mismatch: ${pos} != ${size}`)
  return buf
}

const latin1 = new TextDecoder('latin1')

function keyFromBytes(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7e || bytes[i] < 0x21) throw new MstNodeError('MST key contains a non-printable or non-ASCII byte')
  }
  // latin1 (windows-1252 to TextDecoder) is identical to ASCII for the bytes allowed above
  return latin1.decode(bytes)
}

/**
 * Decodes and checks a node: the exact wire shape, the prefix compression, keys strictly
 * ascending and valid. `layer` is the layer the parent expects; the root's is derived from
 * its first key by the caller.
 */
export function decodeNode(bytes: Uint8Array, layer: number, cid: Cid | null, validateKeys = true): MstNode {
  let raw: unknown
  try {
    raw = decodeCbor(bytes)
  } catch (err) {
    throw new MstNodeError(`MST node is not valid DAG-CBOR: ${(err as Error).message}`)
  }
  if (raw === null || typeof raw !== 'object' || (raw as object).constructor !== Object) {
    throw new MstNodeError('MST node is not a map')
  }
  const obj = raw as Record<string, unknown>
  if (Object.keys(obj).length !== 2 || !('l' in obj) || !('e' in obj)) {
    throw new MstNodeError('MST node must have exactly the fields l and e')
  }
  const { l, e } = obj
  if (l !== null && !isCid(l)) throw new MstNodeError('MST node field l must be a CID or null')
  if (!Array.isArray(e)) throw new MstNodeError('MST node field e must be an array')
  const entries: Entry[] = []
  if (l) entries.push(new SubRef(l, null))
  let prevKey = ''
  for (let i = 0; i < e.length; i++) {
    const ent = e[i] as Record<string, unknown>
    if (ent === null || typeof ent !== 'object' || ent.constructor !== Object || Object.keys(ent).length !== 4) {
      throw new MstNodeError('MST entry must be a map of p, k, v, t')
    }
    const { p, k, v, t } = ent
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > prevKey.length) {
      throw new MstNodeError('MST entry prefix length out of range')
    }
    if (!(k instanceof BytesWrapper)) throw new MstNodeError('MST entry key suffix must be bytes')
    if (!isCid(v)) throw new MstNodeError('MST entry value must be a CID')
    if (t !== null && !isCid(t)) throw new MstNodeError('MST entry subtree must be a CID or null')
    if (i === 0 && p !== 0) throw new MstNodeError('first MST entry must have prefix length 0')
    const key = prevKey.slice(0, p) + keyFromBytes(k.buf)
    if (validateKeys && !isValidMstKey(key)) throw new MstNodeError(`invalid MST key ${JSON.stringify(key)}`)
    if (i > 0 && key <= prevKey) throw new MstNodeError('MST keys out of order or duplicated')
    entries.push(new Leaf(key, v))
    if (t) entries.push(new SubRef(t, null))
    prevKey = key
  }
  const node = new MstNode(layer, entries, true)
  node.cid = cid ?? cidForCbor(bytes)
  node.bytes = bytes
  return node
}

/** The empty tree's root (an empty node at layer 0). */
export function emptyNode(): MstNode {
  return new MstNode(0, [])
}
