// Firehose event bodies as the official PDS stores them in repo_seq.event: DAG-CBOR of the
// message without `seq` and `time` (those are added when a frame is sent).
import { carHeaderSize, carToBytes, writeCarHeader } from '../repo/car/index.ts'
import { varintLength, writeVarint } from '../repo/car/varint.ts'
import { asciiSize, cidSize, headerSize, isAscii, writeAscii, writeCid, writeHeader } from '../repo/cbor-write.ts'
import { BytesWrapper, encodeCbor } from '../repo/cbor.ts'
import type { Cid } from '../repo/cid.ts'
import type { CommitData } from '../repo/commit-builder.ts'

export type EventType = 'append' | 'sync' | 'identity' | 'account'

export type AccountStatus = 'active' | 'takendown' | 'suspended' | 'deleted' | 'deactivated'

export interface SeqEvent {
  did: string
  eventType: EventType
  event: Uint8Array
}

/** The #commit body: the commit, its ops (with `prev` for sync v1.1) and a CAR of the blocks. */
export function commitEvent(commit: Pick<CommitData, 'did' | 'cid' | 'rev' | 'since' | 'prevData' | 'ops' | 'newBlocks' | 'relevantBlocks'>): SeqEvent {
  // The CAR's blocks: the new blocks, then the proof blocks not among them (a BlockMap union's order).
  const blocks: Array<readonly [Cid, Uint8Array]> = []
  for (const b of commit.newBlocks) blocks.push(b)
  for (const b of commit.relevantBlocks) if (!commit.newBlocks.has(b[0])) blocks.push(b)
  const event = encodeCommitBody(commit, blocks) ?? encodeCbor(wrapBytes(commitBody(commit, carToBytes(commit.cid, blocks))))
  return { did: commit.did, eventType: 'append', event }
}

type CommitEventInput = Pick<CommitData, 'did' | 'cid' | 'rev' | 'since' | 'prevData' | 'ops'>

/** The body as a value, for the generic encoder. */
export function commitBody(commit: CommitEventInput, car: Uint8Array): Record<string, unknown> {
  const ops = commit.ops.map((op) => {
    const out: Record<string, unknown> = { action: op.action, path: op.path, cid: op.cid }
    if (op.prev) out.prev = op.prev
    return out
  })
  const body: Record<string, unknown> = {
    repo: commit.did,
    commit: commit.cid,
    rev: commit.rev,
    since: commit.since,
    blocks: car,
    ops,
    // deprecated but still required by the lexicon
    rebase: false,
    tooBig: false,
    blobs: [],
  }
  if (commit.prevData) body.prevData = commit.prevData
  return body
}

// Keys in DAG-CBOR order (shorter first, then bytewise), each as text(n) "key".
const key = (k: string): number[] => [0x60 | k.length, ...Array.from(k, (c) => c.charCodeAt(0))]
const K = {
  ops: key('ops'),
  rev: key('rev'),
  repo: key('repo'),
  blobs: key('blobs'),
  since: key('since'),
  blocks: key('blocks'),
  commit: key('commit'),
  rebase: key('rebase'),
  tooBig: key('tooBig'),
  prevData: key('prevData'),
  cid: key('cid'),
  path: key('path'),
  prev: key('prev'),
  action: key('action'),
}

function put(buf: Uint8Array, pos: number, bytes: readonly number[]): number {
  for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i] as number
  return pos
}

/**
 * The #commit body written straight into one exactly-sized buffer, its CAR in place: through
 * the generic encoder the CAR is built, then copied into the encoder's chunks, which are joined
 * again. Gives the generic encoder's bytes (test/sequencer/events.test.ts compares them); null
 * when a string is not ASCII, left to the generic encoder.
 */
function encodeCommitBody(commit: CommitEventInput, blocks: ReadonlyArray<readonly [Cid, Uint8Array]>): Uint8Array | null {
  const { did, rev, since, ops, prevData } = commit
  if (!isAscii(did) || !isAscii(rev) || (since !== null && !isAscii(since))) return null
  let size = 1 + K.ops.length + headerSize(ops.length)
  for (const op of ops) {
    if (!isAscii(op.path) || !isAscii(op.action)) return null
    size += 1 + K.cid.length + cidSize(op.cid) + K.path.length + asciiSize(op.path) + K.action.length + asciiSize(op.action)
    if (op.prev) size += K.prev.length + cidSize(op.prev)
  }
  const carHeaderLen = carHeaderSize(commit.cid)
  let carSize = varintLength(carHeaderLen) + carHeaderLen
  for (const [cid, bytes] of blocks) {
    const len = cid.bytes.length + bytes.length
    carSize += varintLength(len) + len
  }
  size +=
    K.rev.length + asciiSize(rev) +
    K.repo.length + asciiSize(did) +
    K.blobs.length + 1 +
    K.since.length + (since === null ? 1 : asciiSize(since)) +
    K.blocks.length + headerSize(carSize) + carSize +
    K.commit.length + cidSize(commit.cid) +
    K.rebase.length + 1 +
    K.tooBig.length + 1 +
    (prevData ? K.prevData.length + cidSize(prevData) : 0)
  const buf = new Uint8Array(size)
  buf[0] = prevData ? 0xaa : 0xa9
  let pos = writeHeader(buf, put(buf, 1, K.ops), 4, ops.length)
  for (const op of ops) {
    buf[pos++] = op.prev ? 0xa4 : 0xa3
    pos = writeCid(buf, put(buf, pos, K.cid), op.cid)
    pos = writeAscii(buf, put(buf, pos, K.path), op.path)
    if (op.prev) pos = writeCid(buf, put(buf, pos, K.prev), op.prev)
    pos = writeAscii(buf, put(buf, pos, K.action), op.action)
  }
  pos = writeAscii(buf, put(buf, pos, K.rev), rev)
  pos = writeAscii(buf, put(buf, pos, K.repo), did)
  pos = put(buf, pos, K.blobs)
  buf[pos++] = 0x80
  pos = put(buf, pos, K.since)
  if (since === null) buf[pos++] = 0xf6
  else pos = writeAscii(buf, pos, since)
  pos = writeHeader(buf, put(buf, pos, K.blocks), 2, carSize)
  pos = writeCarHeader(buf, writeVarint(buf, pos, carHeaderLen), commit.cid)
  for (const [cid, bytes] of blocks) {
    pos = writeVarint(buf, pos, cid.bytes.length + bytes.length)
    buf.set(cid.bytes, pos)
    pos += cid.bytes.length
    buf.set(bytes, pos)
    pos += bytes.length
  }
  pos = writeCid(buf, put(buf, pos, K.commit), commit.cid)
  pos = put(buf, pos, K.rebase)
  buf[pos++] = 0xf4
  pos = put(buf, pos, K.tooBig)
  buf[pos++] = 0xf4
  if (prevData) pos = writeCid(buf, put(buf, pos, K.prevData), prevData)
  if (pos !== size) throw new Error(`#commit encoding size mismatch: ${pos} != ${size}`)
  return buf
}

/** #sync: the repo's state was reset (creation, import, activation); carries the commit block. */
export function syncEvent(did: string, rev: string, commitCid: Cid, commitBytes: Uint8Array): SeqEvent {
  const blocks = carToBytes(commitCid, [[commitCid, commitBytes]])
  return { did, eventType: 'sync', event: encodeCbor(wrapBytes({ did, rev, blocks })) }
}

export function identityEvent(did: string, handle?: string | null): SeqEvent {
  const body: Record<string, unknown> = { did }
  if (handle) body.handle = handle
  return { did, eventType: 'identity', event: encodeCbor(body) }
}

export function accountEvent(did: string, status: AccountStatus): SeqEvent {
  const body: Record<string, unknown> = { did, active: status === 'active' }
  if (status !== 'active') body.status = status
  return { did, eventType: 'account', event: encodeCbor(body) }
}


/** The CBOR encoder writes bytes only from a BytesWrapper: wrap the `blocks` CAR. */
function wrapBytes(body: Record<string, unknown>): Record<string, unknown> {
  if (body.blocks instanceof Uint8Array) body.blocks = new BytesWrapper(body.blocks)
  return body
}
