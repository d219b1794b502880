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
