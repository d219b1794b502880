// Turning a client's record write into what the commit builder and the index need, with the
// official PDS's checks and messages (its repo/prepare.ts): `$type` defaulted to the collection
// and required to equal it, record-key syntax, lexicon validation per the `validate` flag,
// blob refs enumerated (legacy refs refused), backlinks, and the encoded block with its CID.
import type { BlobRefInfo } from './blobs.ts'
import { blobRefsInRecord } from './blobs.ts'
import { encodeBlock, type EncodedBlock } from '../repo/cbor.ts'
import type { Cid } from '../repo/cid.ts'
import type { PreparedWrite } from '../repo/commit-builder.ts'
import { DataModelError, jsonToLex, type LexMap } from '../repo/data-model.ts'
import { isValidNsid, isValidRecordKey } from '../repo/syntax.ts'
import { isValidTid, nextTid } from '../repo/tid.ts'
import { invalidRequest } from '../errors.ts'
import { assertValidRecord, hasRecordSchema, lexicons } from '../lexicons.ts'
import { type Backlink, backlinksOf } from './backlinks.ts'

/**
 * The record types the official PDS validates (a hard-coded list in its prepare.ts). Others are
 * stored unvalidated with validationStatus 'unknown' (or refused when `validate: true`), even if
 * @atproto/api ships a schema for them, so that both servers accept the same records.
 */
export const KNOWN_RECORD_TYPES: ReadonlySet<string> = new Set([
  'app.bsky.actor.profile',
  'app.bsky.actor.status',
  'app.bsky.feed.generator',
  'app.bsky.feed.like',
  'app.bsky.feed.post',
  'app.bsky.feed.postgate',
  'app.bsky.feed.repost',
  'app.bsky.feed.threadgate',
  'app.bsky.graph.block',
  'app.bsky.graph.follow',
  'app.bsky.graph.list',
  'app.bsky.graph.listblock',
  'app.bsky.graph.listitem',
  'app.bsky.graph.starterpack',
  'app.bsky.graph.verification',
  'app.bsky.labeler.service',
  'app.bsky.notification.declaration',
  'chat.bsky.actor.declaration',
  'com.atproto.lexicon.schema',
  'com.germnetwork.declaration',
])

export type ValidationStatus = 'valid' | 'unknown' | undefined

export interface PreparedRecordWrite {
  action: 'create' | 'update'
  uri: string
  collection: string
  rkey: string
  record: LexMap
  block: EncodedBlock
  cid: Cid
  blobs: BlobRefInfo[]
  backlinks: Backlink[]
  validationStatus: ValidationStatus
}

export interface PreparedDelete {
  action: 'delete'
  uri: string
  collection: string
  rkey: string
}

export type PreparedRepoWrite = PreparedRecordWrite | PreparedDelete

export interface PrepareRecordOptions {
  did: string
  collection: string
  /** Absent (create only): a new TID. */
  rkey?: string
  /** The record as the client sent it (JSON form). */
  record: unknown
  /** false: skip validation; undefined: validate known types; true: unknown types are an error. */
  validate?: boolean
}

export function prepareCreate(opts: PrepareRecordOptions): PreparedRecordWrite {
  return prepareRecord('create', opts)
}

export function prepareUpdate(opts: PrepareRecordOptions & { rkey: string }): PreparedRecordWrite {
  return prepareRecord('update', opts)
}

export function prepareDelete(opts: { did: string; collection: string; rkey: string }): PreparedDelete {
  return { action: 'delete', uri: recordUri(opts.did, opts.collection, opts.rkey), collection: opts.collection, rkey: opts.rkey }
}

/** The commit builder's view of a prepared write. */
export function toCommitWrite(w: PreparedRepoWrite): PreparedWrite {
  if (w.action === 'delete') return { action: 'delete', collection: w.collection, rkey: w.rkey }
  return { action: w.action, collection: w.collection, rkey: w.rkey, block: w.block }
}

export function recordUri(did: string, collection: string, rkey: string): string {
  return `at://${did}/${collection}/${rkey}`
}

function prepareRecord(action: 'create' | 'update', opts: PrepareRecordOptions): PreparedRecordWrite {
  const { did, collection } = opts
  if (!isValidNsid(collection)) throw invalidRequest(`Invalid collection: ${collection}`)
  const json = opts.record
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw invalidRequest('Record must be an object')
  }
  const given = (json as Record<string, unknown>).$type
  if (given !== undefined && given !== collection) {
    throw invalidRequest(`Invalid $type: expected ${collection}, got ${String(given)}`)
  }
  if (opts.rkey != null && !isValidRecordKey(opts.rkey)) throw invalidRequest(`Invalid record key: ${opts.rkey}`)
  const rkey = opts.rkey || nextTid()

  let record: LexMap
  try {
    record = jsonToLex(given === undefined ? { ...(json as object), $type: collection } : json)
  } catch (err) {
    if (err instanceof DataModelError) throw invalidRequest(`Invalid ${collection} record: ${err.message}`)
    throw err
  }
  // Validation comes before blob enumeration so a malformed blob gets the schema's message.
  const validationStatus = validateRecord(collection, rkey, !opts.rkey, record, opts.validate)
  const blobs = blobRefsInRecord(record)
  const block = encodeBlock(record)
  const uri = recordUri(did, collection, rkey)
  return {
    action,
    uri,
    collection,
    rkey,
    record,
    block,
    cid: block.cid,
    blobs,
    backlinks: backlinksOf(record),
    validationStatus,
  }
}

/**
 * Per known record type: its lexicon's `key`, or null when the lexicon set has no record schema
 * for it. Every validated write asked the lexicon set twice (the schema's presence, then its key),
 * each a parse of the NSID into a lexicon URI; the definitions do not change while the process
 * runs. Bounded by KNOWN_RECORD_TYPES.
 */
const knownRecordKeys = new Map<string, string | null>()

function recordKeyOf(collection: string): string | null {
  let key = knownRecordKeys.get(collection)
  if (key === undefined) {
    key = hasRecordSchema(collection) ? ((lexicons().getDef(collection) as { key?: string } | undefined)?.key ?? 'any') : null
    knownRecordKeys.set(collection, key)
  }
  return key
}

/** `madeTid`: the key is a TID made here (nextTid), which needs no TID check. */
function validateRecord(collection: string, rkey: string, madeTid: boolean, record: LexMap, validate: boolean | undefined): ValidationStatus {
  if (validate === false) return undefined
  const key = KNOWN_RECORD_TYPES.has(collection) ? recordKeyOf(collection) : null
  if (key === null) {
    if (validate === true) throw invalidRequest(`Unknown lexicon type: ${collection}`)
    return 'unknown'
  }
  const keyProblem = madeTid && (key === 'tid' || key === 'any') ? null : recordKeyProblem(key, rkey)
  if (keyProblem) throw invalidRequest(`Invalid record key for ${collection}: ${keyProblem}`)
  assertValidRecord(collection, record)
  return 'valid'
}

/** Checks the record key against the lexicon's `key` (tid, literal:<value>, nsid, any). */
function recordKeyProblem(key: string, rkey: string): string | null {
  if (key === 'tid') return isValidTid(rkey) ? null : 'Record key must be a valid TID'
  if (key === 'nsid') return isValidNsid(rkey) ? null : 'Record key must be a valid NSID'
  if (key.startsWith('literal:')) {
    const literal = key.slice('literal:'.length)
    return rkey === literal ? null : `Record key must be "${literal}"`
  }
  return null
}
