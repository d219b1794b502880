import type { Cid } from '../cid.ts'

/** One CAR section: a block and the CID it is stored under. */
export interface CarBlock {
  cid: Cid
  bytes: Uint8Array
}
