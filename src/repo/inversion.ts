// The sync v1.1 inductive check: a commit's operations, applied in reverse to the tree the
// commit describes, must give back the tree before it — using only the blocks the commit event
// carries. A consumer that passes this check needs no copy of the repo to trust the event.
import { type BlockSource, MissingBlockError } from './block-map.ts'
import { type Cid, cidEquals } from './cid.ts'
import { Mst } from './mst/tree.ts'

export interface RepoOp {
  action: 'create' | 'update' | 'delete'
  path: string
  /** The record's CID after the operation (null for delete). */
  cid: Cid | null
  /** The record's CID before it (required for update and delete). */
  prev?: Cid | null
}

export class InversionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InversionError'
  }
}

/** Throws InversionError unless inverting `ops` on `data` with only `blocks` yields `prevData`. */
export function checkInversion(blocks: BlockSource, data: Cid, ops: readonly RepoOp[], prevData: Cid | null): void {
  try {
    // No cache: the check must see only what the event carries.
    const tree = Mst.load(blocks, data, { cacheSize: 0, validateKeys: true })
    for (const op of ops) {
      const current = tree.get(op.path)
      switch (op.action) {
        case 'create':
          if (!op.cid || !cidEquals(current, op.cid)) throw new InversionError(`create of ${op.path} is not in the new tree`)
          tree.delete(op.path)
          break
        case 'update':
          if (!op.cid || !op.prev) throw new InversionError(`update of ${op.path} lacks cid or prev`)
          if (!cidEquals(current, op.cid)) throw new InversionError(`update of ${op.path} is not in the new tree`)
          tree.update(op.path, op.prev)
          break
        case 'delete':
          if (!op.prev) throw new InversionError(`delete of ${op.path} lacks prev`)
          if (current) throw new InversionError(`deleted ${op.path} is still in the new tree`)
          tree.add(op.path, op.prev)
          break
        default:
          throw new InversionError(`unknown op action ${(op as RepoOp).action}`)
      }
    }
    const root = tree.rootCid()
    if (prevData === null) {
      if (!tree.root.isEmpty) throw new InversionError('inverted tree is not empty but the commit has no prevData')
      return
    }
    if (!cidEquals(root, prevData)) {
      throw new InversionError(`inverted tree root ${root.$link} does not match prevData ${prevData.$link}`)
    }
  } catch (err) {
    if (err instanceof InversionError) throw err
    if (err instanceof MissingBlockError) throw new InversionError(`commit blocks insufficient to invert: ${err.message}`)
    throw new InversionError(`inversion failed: ${(err as Error).message}`)
  }
}
