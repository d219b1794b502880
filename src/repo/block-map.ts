// Blocks keyed by CID string. Insertion order is kept: CAR writers and commit events emit blocks
// in the order they were produced.
import type { Cid } from './cid.ts'

export class BlockMap implements Iterable<[Cid, Uint8Array]>, BlockSource {
  private readonly map = new Map<string, { cid: Cid; bytes: Uint8Array }>()

  set(cid: Cid, bytes: Uint8Array): this {
    this.map.set(cid.$link, { cid, bytes })
    return this
  }

  get(cid: Cid): Uint8Array | undefined {
    return this.map.get(cid.$link)?.bytes
  }

  getBlock(cid: Cid): Uint8Array | undefined {
    return this.map.get(cid.$link)?.bytes
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
    for (const v of this.map.values()) n += v.bytes.length
    return n
  }

  cids(): Cid[] {
    return [...this.map.values()].map((v) => v.cid)
  }

  *[Symbol.iterator](): Iterator<[Cid, Uint8Array]> {
    for (const v of this.map.values()) yield [v.cid, v.bytes]
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
