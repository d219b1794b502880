// The lexicon schemas (every document @atproto/api ships) and the checks the router and the
// write path run against them, with the error shapes of the official PDS:
// - bad params: 400 InvalidRequest, message `Error: <detail>` (the official formats the
//   validation error with String(), prefix included), e.g. `Error: Params must have the property "rkey"`;
// - bad input: 400 InvalidRequest, e.g. `Input/password must be a string`;
// - bad output: 500 (a handler bug; the client only sees "Internal Server Error");
// - bad record: 400 InvalidRequest, `Invalid app.bsky.feed.post record: Record/text must be a string`.
//
// Values cross this module in their JSON form (`{"$link"}`, `{"$bytes"}`, blob objects), or as
// Hearth's in-memory data model for records; @atproto/lexicon's own value classes (its CID,
// BlobRef) stay inside.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { LexiconDoc, Lexicons, LexXrpcProcedure, LexXrpcQuery, LexXrpcSubscription } from '@atproto/lexicon'
import { lexToJson as dataModelToJson } from './repo/data-model.ts'
import { exceedsNestingDepth, MAX_NESTING_DEPTH } from './repo/nesting.ts'
import { canRequireEsm, requireEsm } from './repo/require-esm.ts'
import { syntaxLib } from './repo/syntax.ts'
import { XrpcError, invalidRequest } from './errors.ts'


// The schema set @atproto/api ships. The bundle `npm start` runs (scripts/build.mjs) carries
// it as a JSON file beside itself: parsed JSON costs a few MB where the generated module costs
// about 25 MB (its source is kept, and it pulls in the package's own Lexicons instance). From
// source, the generated module is loaded alone: importing the whole client package for it costs
// about 60 MB more. The package's exports map hides the module, so it is located beside the
// package's entry point.
const BUNDLED_SCHEMAS = new URL('./lexicons.json', import.meta.url)
const BUNDLED = existsSync(BUNDLED_SCHEMAS)
let allSchemas: unknown[] | null = null
const bundled = BUNDLED ? openBundledSchemas() : null
if (!BUNDLED) allSchemas = await sourceSchemas()

async function sourceSchemas(): Promise<unknown[]> {
  const apiEntry = createRequire(import.meta.url).resolve('@atproto/api')
  const mod = (await import(pathToFileURL(join(dirname(apiEntry), 'client', 'lexicons.js')).href)) as { schemas: unknown[] }
  return mod.schemas
}

type SchemaDoc = { id?: unknown; defs?: Record<string, unknown> }

/**
 * The bundle's documents, each parsed when first asked for. The router needs the ~80 documents of
 * the methods it serves (a tenth of the file); all ~390 parsed are ~1 MB of heap, which an idle
 * server need not hold until the validator loads. The build writes one document per line, its
 * `id` first, so the start only indexes lines. The file stays open: a later build renames a new
 * one into place, and this process keeps reading the one it started with.
 */
function openBundledSchemas(): { fd: number; at: Map<string, [number, number]> } | null {
  const fd = openSync(BUNDLED_SCHEMAS, 'r')
  const text = readAt(fd, 0, fstatSync(fd).size)
  const at = new Map<string, [number, number]>()
  const head = Buffer.from('{"id":"')
  for (let start = text.indexOf(0x0a) + 1; start > 0 && start < text.length; ) {
    const newline = text.indexOf(0x0a, start)
    const end = newline < 0 ? text.length : newline
    if (end - start > head.length && text.compare(head, 0, head.length, start, start + head.length) === 0) {
      const idEnd = text.indexOf(0x22, start + head.length)
      const stop = text[end - 1] === 0x2c ? end - 1 : end // the comma between documents
      at.set(text.toString('latin1', start + head.length, idEnd), [start, stop])
    }
    start = newline < 0 ? -1 : newline + 1
  }
  if (at.size > 0) return { fd, at }
  // Not written a document per line (a build from before): parsed whole, at start.
  allSchemas = JSON.parse(text.toString('utf8')) as unknown[]
  closeSync(fd)
  return null
}

function readAt(fd: number, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start)
  let got = 0
  while (got < out.length) {
    const n = readSync(fd, out, got, out.length - got, start + got)
    if (n === 0) throw new Error(`lexicons.json ended at ${start + got} of ${end}`)
    got += n
  }
  return out
}

/** Every document (the validator's set): in the bundle, read and parsed once, on first use. */
function schemas(): unknown[] {
  if (allSchemas === null) {
    const { fd } = bundled!
    allSchemas = JSON.parse(readAt(fd, 0, fstatSync(fd).size).toString('utf8')) as unknown[]
  }
  return allSchemas
}

// In the bundle `npm start` runs, @atproto/lexicon (its validators, zod and multiformats with
// it) is loaded on first use, not at start: importing it costs ~5.7 MB of resident memory (2.5 MB
// of heap), and an idle server, or one answering only queries without a schema check, never needs
// it. A method's definition (what the router needs to register and route it) is read from the
// documents directly. The validators are synchronous, so the first use loads the package with
// require() of an ES module (./repo/require-esm.ts, and its rule: no import() of it at run
// time); where Node cannot, and from source (tsx's require hook turns the package's imports
// into requires, which its dependencies' export maps refuse), it is loaded at start as before.
type LexiconLib = typeof import('@atproto/lexicon')
const loadOnFirstUse = BUNDLED && canRequireEsm
let lexiconLib: LexiconLib | null = loadOnFirstUse ? null : await import('@atproto/lexicon')

function lib(): LexiconLib {
  return (lexiconLib ??= requireEsm('@atproto/lexicon') as LexiconLib)
}

let lexiconSet: Lexicons | null = null
// Only NSIDs that have a definition are cached: the set is bounded by the lexicons, whereas
// remembering misses would let any client grow it with made-up NSIDs.
const methodDefs = new Map<string, MethodDef>()
// The documents looked up by id: in the bundle, those parsed so far (ids the file has); from
// source, all of them.
const docsById = new Map<string, SchemaDoc>()
let docsIndexed = false

/** The lexicon set, built on first use (about 400 documents, a few milliseconds). */
export function lexicons(): Lexicons {
  if (lexiconSet === null) lexiconSet = new (lib().Lexicons)(schemas() as LexiconDoc[])
  return lexiconSet
}

/** The `main` definition of the document with this id, as written (refs not resolved). */
function mainDef(nsid: string): { type?: string } | undefined {
  const main = schemaDoc(nsid)?.defs?.main
  return typeof main === 'object' && main !== null ? (main as { type?: string }) : undefined
}

function schemaDoc(id: string): SchemaDoc | undefined {
  let doc = docsById.get(id)
  if (doc !== undefined) return doc
  if (bundled !== null) {
    const range = bundled.at.get(id)
    if (range === undefined) return undefined
    doc = JSON.parse(readAt(bundled.fd, range[0], range[1]).toString('utf8')) as SchemaDoc
    docsById.set(id, doc)
    return doc
  }
  if (!docsIndexed) {
    for (const d of schemas() as SchemaDoc[]) if (typeof d.id === 'string') docsById.set(d.id, d)
    docsIndexed = true
  }
  return docsById.get(id)
}

export type MethodType = 'query' | 'procedure' | 'subscription'

export interface MethodDef {
  nsid: string
  type: MethodType
  def: LexXrpcQuery | LexXrpcProcedure | LexXrpcSubscription
  /** Accepted request body types (`application/json`, `*\/*`, ...); null when the method takes no body. */
  inputEncodings: string[] | null
  /** True when the input is JSON: the router parses it (and validates it when the lexicon has a schema). */
  jsonInput: boolean
  /** Response body types; null when the method returns no body. */
  outputEncodings: string[] | null
  /** `GET` for queries (and subscriptions), `POST` for procedures. */
  httpMethod: 'GET' | 'POST'
}

/** The method definition of an NSID, or null when no lexicon defines it as a query/procedure/subscription. */
export function getMethodDef(nsid: string): MethodDef | null {
  const cached = methodDefs.get(nsid)
  if (cached !== undefined) return cached
  const def = mainDef(nsid) as LexXrpcQuery | LexXrpcProcedure | LexXrpcSubscription | { type?: undefined } | undefined
  if (def && (def.type === 'query' || def.type === 'procedure' || def.type === 'subscription')) {
    const input = def.type === 'procedure' ? def.input : undefined
    const output = def.type === 'subscription' ? undefined : def.output
    const inputEncodings = input?.encoding ? splitEncodings(input.encoding) : null
    const methodDef: MethodDef = {
      nsid,
      type: def.type,
      def,
      inputEncodings,
      jsonInput: inputEncodings !== null && inputEncodings.length === 1 && inputEncodings[0] === 'application/json',
      outputEncodings: output?.encoding ? splitEncodings(output.encoding) : null,
      httpMethod: def.type === 'procedure' ? 'POST' : 'GET',
    }
    methodDefs.set(nsid, methodDef)
    return methodDef
  }
  return null
}

function splitEncodings(encoding: string): string[] {
  return encoding
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean)
}

/** Whether `encoding` (a bare mime type) is one of `allowed` (which may hold `*\/*` or `type/*`). */
export function encodingMatches(allowed: string[], encoding: string): boolean {
  for (const entry of allowed) {
    if (entry === '*/*' || entry === encoding) return true
    if (entry.endsWith('/*') && encoding.startsWith(entry.slice(0, -1))) return true
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// Params

type ParamProperty = { type: string; items?: { type: string } }

/**
 * Turns query-string values into the types the lexicon declares, as the official router does:
 * repeated keys make arrays, integers go through parseInt (a non-number becomes 0, which the
 * validator then refuses if the lexicon has a minimum), booleans are `true` only for "true",
 * empty values are absent, and names the lexicon does not declare are dropped.
 */
export function parseQueryParams(nsid: string, searchParams: URLSearchParams): Record<string, unknown> {
  if (searchParams.has('__proto__')) {
    throw new XrpcError(400, 'InvalidQueryParameter', 'Invalid query parameter: __proto__')
  }
  const method = getMethodDef(nsid)
  const properties = (method?.def.parameters?.properties ?? {}) as Record<string, ParamProperty>
  const out: Record<string, unknown> = {}
  for (const key of new Set(searchParams.keys())) {
    if (!Object.hasOwn(properties, key)) continue
    const property = properties[key]
    const values = searchParams.getAll(key)
    if (property.type === 'array') {
      if (values.length === 1 && values[0] === '') continue
      const itemType = property.items?.type ?? 'string'
      const decoded: unknown[] = []
      for (const value of values) {
        const v = decodeParam(itemType, value)
        if (v !== undefined) decoded.push(v)
      }
      out[key] = decoded
    } else {
      // A scalar given twice is read as the official does: the values joined by commas.
      const v = decodeParam(property.type, values.length === 1 ? values[0] : values.join(','))
      if (v !== undefined) out[key] = v
    }
  }
  return out
}

function decodeParam(type: string, value: string): unknown {
  if (value === '') return undefined
  switch (type) {
    case 'string':
    case 'datetime':
      return value
    case 'float':
      return Number(value)
    case 'integer':
      return parseInt(value, 10) || 0
    case 'boolean':
      return value === 'true'
    default:
      return undefined
  }
}

/** Validates decoded params and returns them with the lexicon's defaults applied. */
export function assertValidXrpcParams(nsid: string, params: Record<string, unknown>): Record<string, unknown> {
  // A method that declares no parameters: the validator returns nothing, which is {} here.
  const method = getMethodDef(nsid)
  if (method !== null && method.def.parameters === undefined) return {}
  const fast = fastValidParams(nsid, params)
  if (fast !== null) return fast
  // The validator builds (and drops) an error for every optional parameter left out (getRecord's
  // `cid`, listRecords' `cursor`...); without a stack trace to capture that costs next to
  // nothing. Only the message of a real failure is used. Synchronous, so nothing else runs with
  // the limit lowered.
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return lexicons().assertValidXrpcParams(nsid, params) ?? {}
  } catch (err) {
    throw invalidRequest(String(err))
  } finally {
    Error.stackTraceLimit = limit
  }
}

// A precompiled check of the common parameter shapes, run on every XRPC call before the
// lexicon's validator, which builds (and drops) an error object for each optional parameter
// left out and walks the schema generically each time. It only accepts: it runs the checks
// the validator would (the same @atproto/syntax predicates for formats, the same bounds) and
// applies the same defaults, and anything it does not accept outright (a value that fails, a
// missing required parameter, a format it does not know, a shape it does not take) goes to
// the validator, which answers as before with its own message.

interface FastParam {
  key: string
  type: 'string' | 'integer' | 'boolean'
  required: boolean
  default: unknown
  /** For strings with a format: its check; null when the format is one left to the validator. */
  format: ((value: string) => boolean) | null | undefined
  minimum: number | undefined
  maximum: number | undefined
}

// The predicates the lexicon's string formats use (validators/formats.js); `cid` is not among
// them (it parses the CID), so a cid parameter given goes to the validator.
const FAST_FORMATS: Record<string, (value: string) => boolean> = {
  datetime: (v) => syntaxLib().isDatetimeStringLenient(v),
  uri: (v) => syntaxLib().isValidUri(v),
  'at-uri': (v) => syntaxLib().isAtUriString(v),
  did: (v) => syntaxLib().isValidDid(v),
  handle: (v) => syntaxLib().isValidHandle(v),
  'at-identifier': (v) => syntaxLib().isAtIdentifierString(v),
  nsid: (v) => syntaxLib().isValidNsid(v),
  language: (v) => syntaxLib().isValidLanguage(v),
  tid: (v) => syntaxLib().isValidTid(v),
  'record-key': (v) => syntaxLib().isValidRecordKey(v),
}

// The schema keys a property may have and still be checked here (any other constraint, e.g.
// const, enum, lengths, graphemes, sends the method to the validator).
const FAST_KEYS = new Set(['type', 'description', 'default', 'format', 'knownValues', 'minimum', 'maximum'])
const fastPlans = new Map<string, FastParam[] | null>()

function fastPlan(nsid: string): FastParam[] | null {
  const known = fastPlans.get(nsid)
  if (known !== undefined) return known
  const def = getMethodDef(nsid)
  let plan: FastParam[] | null = null
  // Only NSIDs with a definition are remembered, as in getMethodDef.
  if (def === null) return null
  const parameters = def.def.parameters as { properties?: Record<string, Record<string, unknown>>; required?: string[] } | undefined
  if (parameters !== undefined && typeof parameters.properties === 'object') {
    plan = []
    const required = new Set(parameters.required ?? [])
    for (const [key, prop] of Object.entries(parameters.properties)) {
      const type = prop.type
      const fits =
        (type === 'string' || type === 'integer' || type === 'boolean') &&
        Object.keys(prop).every((k) => FAST_KEYS.has(k)) &&
        (type === 'string' ? prop.minimum === undefined && prop.maximum === undefined : prop.format === undefined) &&
        (type !== 'boolean' || (prop.minimum === undefined && prop.maximum === undefined)) &&
        (prop.default === undefined || typeof prop.default === (type === 'integer' ? 'number' : type)) &&
        (prop.minimum === undefined || typeof prop.minimum === 'number') &&
        (prop.maximum === undefined || typeof prop.maximum === 'number')
      if (!fits) {
        plan = null
        break
      }
      const format = typeof prop.format === 'string' ? (FAST_FORMATS[prop.format] ?? null) : undefined
      plan.push({
        key,
        type,
        required: required.has(key),
        default: prop.default,
        format,
        minimum: prop.minimum as number | undefined,
        maximum: prop.maximum as number | undefined,
      })
    }
  }
  fastPlans.set(nsid, plan)
  return plan
}

/** The validated params (defaults applied) when the fast check accepts them outright, else null. */
function fastValidParams(nsid: string, params: Record<string, unknown>): Record<string, unknown> | null {
  const plan = fastPlan(nsid)
  if (plan === null) return null
  let out = params
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i]
    const value = params[p.key]
    if (value === undefined) {
      if (p.default !== undefined) {
        if (out === params) out = { ...params }
        out[p.key] = p.default
      } else if (p.required) {
        return null
      }
      continue
    }
    if (p.type === 'string') {
      if (typeof value !== 'string') return null
      if (p.format === null) return null
      if (p.format !== undefined && !p.format(value)) return null
    } else if (p.type === 'integer') {
      if (!Number.isInteger(value)) return null
      if (p.maximum !== undefined && (value as number) > p.maximum) return null
      if (p.minimum !== undefined && (value as number) < p.minimum) return null
    } else if (typeof value !== 'boolean') {
      return null
    }
  }
  return out
}

/** `parseQueryParams` then `assertValidXrpcParams` (subscriptions use this on their upgrade URL). */
export function validateQueryParams(nsid: string, searchParams: URLSearchParams): Record<string, unknown> {
  return assertValidXrpcParams(nsid, parseQueryParams(nsid, searchParams))
}

// ---------------------------------------------------------------------------------------------
// Input, output, records

// A record sits a few levels down in a body (applyWrites: body, writes, write, value) and may
// itself nest MAX_NESTING_DEPTH levels; the record's own limit is enforced where it is converted.
const INPUT_MAX_DEPTH = MAX_NESTING_DEPTH + 8

/**
 * Validates a parsed JSON body; returns it (in JSON form) with the lexicon's defaults applied.
 * `$link` / `$bytes` / blob objects that do not convert are refused like schema errors. A body
 * nested too deeply is refused first: validation walks it recursively.
 */
export function assertValidXrpcInput(nsid: string, json: unknown): unknown {
  if (exceedsNestingDepth(json, INPUT_MAX_DEPTH)) {
    throw invalidRequest(`Input is nested too deeply: records and other values may nest at most ${MAX_NESTING_DEPTH} levels`)
  }
  // Loaded outside the try: a failure to load is the server's, not a 400 for the client.
  const { jsonToLex, lexToJson } = lib()
  const set = lexicons()
  let lexValue: unknown
  let result: unknown
  try {
    lexValue = jsonToLex(json)
    result = set.assertValidXrpcInput(nsid, lexValue)
  } catch (err) {
    throw invalidRequest(messageOf(err))
  }
  // Validation copies the value only when it filled in defaults.
  return result === lexValue ? json : lexToJson(result)
}

/** Validates a handler's JSON output (as it will be serialized); a failure is a 500. */
export function assertValidXrpcOutput(nsid: string, body: unknown): void {
  let json: unknown
  try {
    json = JSON.parse(JSON.stringify(body))
  } catch (err) {
    throw new XrpcError(500, 'InternalServerError', `Output is not serializable: ${messageOf(err)}`)
  }
  try {
    lexicons().assertValidXrpcOutput(nsid, lib().jsonToLex(json))
  } catch (err) {
    throw new XrpcError(500, 'InternalServerError', messageOf(err))
  }
}

/** Whether a record lexicon exists for this collection. */
export function hasRecordSchema(collection: string): boolean {
  const set = lexicons() // outside the try: a failure to load is not "no schema"
  try {
    return set.getDef(collection)?.type === 'record'
  } catch {
    return false
  }
}

/**
 * Validates a record (JSON form or Hearth's data model) against its collection's lexicon:
 * 400 InvalidRequest `Invalid <collection> record: <detail>`, or `Lexicon not found: lex:<nsid>`
 * when there is no schema (callers decide first whether an unknown collection is acceptable).
 */
export function assertValidRecord(collection: string, record: unknown): void {
  if (!hasRecordSchema(collection)) throw invalidRequest(`Lexicon not found: lex:${collection}`)
  const { jsonToLex } = lib() // outside the try, as in assertValidXrpcInput
  let lexValue: unknown
  try {
    lexValue = jsonToLex(dataModelToJson(record))
  } catch (err) {
    throw invalidRequest(`Invalid ${collection} record: ${messageOf(err)}`)
  }
  try {
    lexicons().assertValidRecord(collection, lexValue)
  } catch (err) {
    throw invalidRequest(`Invalid ${collection} record: ${messageOf(err)}`)
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
