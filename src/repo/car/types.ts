import type { Cid } from '../cid.ts'

/** One CAR section: a block and the CID it is stored under. */
export interface CarBlock {
  cid: Cid
  bytes: Uint8Array
}

/** A section whose CID is already in its binary form (blocks read from a table keyed by CID string). */
export interface RawCarBlock {
  cidBytes: Uint8Array
  bytes: Uint8Array
}

/**
 * A page of blocks read in one row from a table keyed by CID string (getRepo's scan): SQLite
 * hands back one string and one buffer for the page instead of a string and a buffer per block.
 * The three fields list the same blocks in the same order.
 */
export interface PackedCarBlocks {
  /** The stored CID strings ('b' and base32), separated by single spaces. */
  cids: string
  /** Each block's length in bytes, in decimal, separated by commas. */
  lengths: string
  /** The blocks' bytes, back to back. */
  bytes: Uint8Array
}
