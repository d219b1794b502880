// Identifier and lexicon string-format syntax. @atproto/syntax is used where it passes the
// shared interop vectors; language, uri, at-uri and cid strings need a stricter or different
// rule than its default exports (see ../shared/interop-tests/INDEX.md §7).
import { fromBase58Btc } from '@atcute/multibase'
import { canRequireEsm, requireEsm } from './require-esm.ts'

// @atproto/syntax (with iso-datestring-validator) is loaded on first use: ~0.9 MB that an idle
// server, answering describeServer, never needs. Its checks are synchronous, so the first use
// loads it with require() of an ES module (./require-esm.ts, and its rule: no import() of it at
// run time); where Node cannot, it is imported at start as before.
type Syntax = typeof import('@atproto/syntax')
let upstream: Syntax | null = canRequireEsm ? null : await import('@atproto/syntax')

/** @atproto/syntax itself, loaded on first use. */
export function syntaxLib(): Syntax {
  return (upstream ??= requireEsm('@atproto/syntax') as Syntax)
}

/** Whether the handle's TLD is one a handle may have (upstream's list of disallowed ones). */
export function isValidTld(handle: string): boolean {
  return syntaxLib().isValidTld(handle)
}

export class InvalidSyntaxError extends Error {
  override name = 'InvalidSyntaxError'
  constructor(
    readonly format: string,
    message: string,
  ) {
    super(message)
  }
}

type Check = (value: string) => boolean

const isString = (value: unknown): value is string => typeof value === 'string'

export function isValidHandle(value: unknown): value is string {
  return isString(value) && syntaxLib().isValidHandle(value)
}

export function isValidDid(value: unknown): value is string {
  return isString(value) && syntaxLib().isValidDid(value)
}

export function isValidNsid(value: unknown): value is string {
  return isString(value) && syntaxLib().isValidNsid(value)
}

/** The strict AT-URI of lexicons: `at://<did|handle>[/<nsid>[/<rkey>]]`, no query, no trailing slash. */
export function isValidAtUri(value: unknown): value is string {
  return isString(value) && syntaxLib().isAtUriString(value)
}

export function isValidAtIdentifier(value: unknown): value is string {
  return isString(value) && syntaxLib().isAtIdentifierString(value)
}

export function isValidRecordKey(value: unknown): value is string {
  return isString(value) && syntaxLib().isValidRecordKey(value)
}

export function isValidTid(value: unknown): value is string {
  return isString(value) && syntaxLib().isValidTid(value)
}

/** Syntax and meaning: `1985-13-12T…` matches the pattern but is refused because it is no instant. */
export function isValidDatetime(value: unknown): value is string {
  return isString(value) && syntaxLib().isDatetimeString(value) && dayExistsInMonth(value)
}

// V8's Date rolls `1985-02-30` over into March instead of refusing it, so upstream accepts it;
// RFC 3339 §5.7 bounds the day by the month (Go's atproto syntax package refuses it too).
function dayExistsInMonth(datetime: string): boolean {
  const year = Number(datetime.slice(0, 4))
  const month = Number(datetime.slice(5, 7))
  const day = Number(datetime.slice(8, 10))
  if (day <= 28) return true
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
  return day <= days
}

/** BCP 47, with lowercase primary subtags and no repeated variant or singleton subtags. */
export function isValidLanguage(value: unknown): value is string {
  return isString(value) && syntaxLib().parseLanguageString(value) !== null
}

const URI_MAX_BYTES = 8 * 1024
// Any scheme (RFC 3986 §3.1), then something; whitespace and controls never appear in a URI.
const URI_RE = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+$/

export function isValidUri(value: unknown): value is string {
  if (!isString(value) || value.length > URI_MAX_BYTES) return false
  // Only non-ASCII text can make the UTF-8 form longer than the string; skip the count otherwise.
  if (value.length * 3 > URI_MAX_BYTES && Buffer.byteLength(value, 'utf8') > URI_MAX_BYTES) return false
  return URI_RE.test(value)
}

// A `cid` string may use any common multibase, but the official vectors include contrived values
// (`mBcDxtdWx0aWhhc2g+`, `7134036…`) that are not decodable CIDs in those bases, so base64 and
// base8 get a character check only. Where a real decode is cheap and unambiguous (base32, base16,
// base58btc) the bytes must also start with the CIDv1 version, which is what refuses a CIDv0 that
// was re-wrapped in a multibase prefix. A bare `Qm…` CIDv0 has no multibase prefix at all.
const CID_MIN_LENGTH = 8
// As parseCid: nothing longer is a CID (sha-512 in base32 is 110), and base58 decoding is quadratic.
const CID_MAX_LENGTH = 128
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const CID_BASES: Record<string, { re: RegExp; v1?: (rest: string) => boolean }> = {
  b: { re: /^[a-z2-7]+$/, v1: (rest) => ((BASE32_ALPHABET.indexOf(rest[0]) << 3) | (BASE32_ALPHABET.indexOf(rest[1]) >> 2)) === 1 },
  f: { re: /^(?:[0-9a-f]{2})+$/, v1: (rest) => rest.startsWith('01') },
  z: { re: /^[1-9A-HJ-NP-Za-km-z]+$/, v1: (rest) => fromBase58Btc(rest)[0] === 1 },
  m: { re: /^[A-Za-z0-9+/]+$/ },
  '7': { re: /^[0-7]+$/ },
}

export function isValidCidString(value: unknown): value is string {
  if (!isString(value) || value.length < CID_MIN_LENGTH || value.length > CID_MAX_LENGTH) return false
  const base = CID_BASES[value[0]]
  if (base === undefined) return false
  const rest = value.slice(1)
  if (!base.re.test(rest)) return false
  return base.v1 === undefined || base.v1(rest)
}

interface Format {
  is: Check
  /** Upstream's throwing check, used only to explain a refusal in more detail. */
  explain?: (value: string) => void
}

const FORMATS: Record<string, Format> = {
  did: { is: isValidDid, explain: (v) => syntaxLib().ensureValidDid(v) },
  handle: { is: isValidHandle, explain: (v) => syntaxLib().ensureValidHandle(v) },
  nsid: { is: isValidNsid, explain: (v) => syntaxLib().ensureValidNsid(v) },
  'at-uri': { is: isValidAtUri, explain: (v) => syntaxLib().assertAtUriString(v, { detailed: true }) },
  'at-identifier': { is: isValidAtIdentifier },
  'record-key': { is: isValidRecordKey, explain: (v) => syntaxLib().ensureValidRecordKey(v) },
  tid: { is: isValidTid, explain: (v) => syntaxLib().ensureValidTid(v) },
  datetime: {
    is: isValidDatetime,
    explain: (v) => {
      const { assertDatetimeString }: { assertDatetimeString(value: string): void } = syntaxLib()
      assertDatetimeString(v)
      throw new Error('the day does not exist in that month')
    },
  },
  language: { is: isValidLanguage },
  uri: { is: isValidUri },
  cid: { is: isValidCidString },
}

export const STRING_FORMATS: ReadonlySet<string> = new Set(Object.keys(FORMATS))

/**
 * Checks a value against a lexicon string `format`. An unknown format is a schema error, not a
 * data error, so it throws rather than answering for the data.
 */
export function checkStringFormat(format: string, value: string): boolean {
  const f = Object.hasOwn(FORMATS, format) ? FORMATS[format] : undefined
  if (f === undefined) throw new TypeError(`unknown lexicon string format: ${format}`)
  return f.is(value)
}

function ensureFormat(format: string, value: unknown): asserts value is string {
  const f = FORMATS[format]
  if (f.is(value as string)) return
  let detail = ''
  if (typeof value !== 'string') {
    detail = `expected a string, got ${value === null ? 'null' : typeof value}`
  } else if (f.explain) {
    try {
      f.explain(value)
    } catch (err) {
      detail = (err as Error).message
    }
  }
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : ''
  throw new InvalidSyntaxError(format, `invalid ${format}${shown ? ` ${shown}` : ''}${detail ? `: ${detail}` : ''}`)
}

export function ensureValidHandle(value: unknown): asserts value is string {
  ensureFormat('handle', value)
}
export function ensureValidDid(value: unknown): asserts value is string {
  ensureFormat('did', value)
}
export function ensureValidNsid(value: unknown): asserts value is string {
  ensureFormat('nsid', value)
}
export function ensureValidAtUri(value: unknown): asserts value is string {
  ensureFormat('at-uri', value)
}
export function ensureValidAtIdentifier(value: unknown): asserts value is string {
  ensureFormat('at-identifier', value)
}
export function ensureValidRecordKey(value: unknown): asserts value is string {
  ensureFormat('record-key', value)
}
export function ensureValidTid(value: unknown): asserts value is string {
  ensureFormat('tid', value)
}
export function ensureValidDatetime(value: unknown): asserts value is string {
  ensureFormat('datetime', value)
}
export function ensureValidLanguage(value: unknown): asserts value is string {
  ensureFormat('language', value)
}
export function ensureValidUri(value: unknown): asserts value is string {
  ensureFormat('uri', value)
}
export function ensureValidCidString(value: unknown): asserts value is string {
  ensureFormat('cid', value)
}
