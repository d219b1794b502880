import type { Cid } from '../cid.ts'

/**
 * Every way a CAR can be malformed surfaces as this one class, so HTTP handlers (importRepo,
 * firehose consumers) can map it to a 400 without catching unrelated programming errors.
 */
export class CarError extends Error {
  override readonly name = 'CarError'
  readonly cid: Cid | undefined

  constructor(message: string, opts?: { cid?: Cid; cause?: unknown }) {
    super(opts?.cid ? `${message}: ${opts.cid.$link}` : message, opts?.cause === undefined ? undefined : { cause: opts.cause })
    this.cid = opts?.cid
  }
}
