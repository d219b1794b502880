// Bridges between Hearth's values and the reference implementation's (@atproto/repo uses
// multiformats CIDs). Used only by differential tests.
import { CID } from 'multiformats/cid'
import { type Cid, parseCid } from '../../src/repo/cid.ts'

export function toRefCid(cid: Cid): CID {
  return CID.parse(cid.$link)
}

export function fromRefCid(cid: { toString(): string }): Cid {
  return parseCid(cid.toString())
}

export { prng } from './prng.ts'
