// Blocks keyed by CID string. Insertion order is kept: CAR writers and commit events emit blocks
// in the order they were produced.
import type { Cid } from './cid.ts'

export type Block = readonly [cid: Cid, bytes: Uint8Array]

export class BlockMap implements Iterable<Block>, BlockSource {
  // Entries are kept as the tuples iteration yields, so iterating (every block of every commit is
  // iterated two or three times: the store, the event, the size check) hands out the stored
  // tuples through the Map's own iterator, with no generator and no tuple per block.
  private readonly map = new Map<string, Block>()

  set(cid: Cid, bytes: Uint8Array): this {
    this.map.set(cid.$link, [cid, bytes])
    return this
  }

  get(cid: Cid): Uint8Array | undefined {
    return this.map.get(cid.$link)?.[1]
  }

  getBlock(cid: Cid): Uint8Array | undefined {
    return this.map.get(cid.$link)?.[1]
  }

  has(cid: Cid): boolean {
    return this.map.has(cid.$link)
  }

  /** Membership by CID string. */
  hasLink(link: string): boolean {
    return this.map.has(link)
  }

  delete(cid: Cid): boolean {
    return this.map.delete(cid.$link)
  }

  addMap(other: BlockMap): this {
    for (const [k, v] of other.map) this.map.set(k, v)
    return this
  }

  get size(): number {
    return this.map.size
  }

  get byteSize(): number {
    let n = 0
    for (const v of this.map.values()) n += v[1].length
    return n
  }

  cids(): Cid[] {
    return Array.from(this.map.values(), (v) => v[0])
  }

  [Symbol.iterator](): Iterator<Block> {
    return this.map.values()
  }
}

/** Where the MST and the repo read blocks from. Synchronous: the SQLite driver is. */
export interface BlockSource {
  getBlock(cid: Cid): Uint8Array | undefined
}

export class MissingBlockError extends Error {
  constructor(
    readonly cid: Cid,
    what = 'block',
  ) {
    super(`missing ${what}: ${cid.$link}`)
    this.name = 'MissingBlockError'
  }
}
