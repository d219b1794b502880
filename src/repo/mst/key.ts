// MST keys and their layers. Keys are `collection/rkey` repo paths: ASCII only, so a JS string
// compares exactly as its bytes do and one char is one byte.
import { sha256 } from '../cid.ts'

export const MAX_KEY_LENGTH = 1024

const KEY_PART = /^[a-zA-Z0-9_~\-:.]+$/

export function isValidMstKey(key: string): boolean {
  if (key.length > MAX_KEY_LENGTH) return false
  const slash = key.indexOf('/')
  if (slash <= 0 || slash === key.length - 1 || key.indexOf('/', slash + 1) !== -1) return false
  return KEY_PART.test(key.slice(0, slash)) && KEY_PART.test(key.slice(slash + 1))
}

export class InvalidMstKeyError extends Error {
  constructor(readonly key: string) {
    super(`not a valid MST key: ${JSON.stringify(key.length > 100 ? key.slice(0, 100) + '…' : key)}`)
    this.name = 'InvalidMstKeyError'
  }
}

export function ensureValidMstKey(key: string): void {
  if (!isValidMstKey(key)) throw new InvalidMstKeyError(key)
}

/**
 * The layer of a key: leading zero bits of SHA-256(key), two bits per layer (fanout 4).
 * Callers pass keys already validated as ASCII; for any other string the hash is of its UTF-8.
 */
export function keyHeight(key: string): number {
  const hash = sha256(key)
  let zeros = 0
  for (let i = 0; i < hash.length; i++) {
    const byte = hash[i]
    if (byte === 0) {
      zeros += 8
      continue
    }
    zeros += Math.clz32(byte) - 24
    break
  }
  return zeros >> 1
}

/** Length of the shared prefix of two ASCII keys (in bytes, which for ASCII is chars). */
export function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++
  return i
}
