// Password hashing, byte-for-byte the official PDS's, so an account.sqlite moves between the two
// servers with every password still working:
// - account passwords: `<salt>:<hash>`, salt = 16 random bytes as 32 hex digits, hash =
//   scrypt(password, salt, 64) as hex, where the salt passed to scrypt is that hex *string*
//   (its ASCII bytes), with Node's default cost (N = 16384, r = 8, p = 1);
// - app passwords: the same, but with the salt derived from the DID (hex of the first 16 bytes
//   of sha256(did)), so the hash is deterministic and a login finds the app password by it.
//
// scrypt runs in hashing threads of its own (hash-limit.ts), never on the event loop nor on
// libuv's thread pool, and only a few at once.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { newAppPassword } from '../account/random.ts'
import { passwordHashes } from './hash-limit.ts'

/** Longest password accepted at login (older accounts may have longer ones than new rules allow). */
export const OLD_PASSWORD_MAX_LENGTH = 512
/** Longest password accepted when one is set (createAccount, resetPassword, admin update). */
export const NEW_PASSWORD_MAX_LENGTH = 256

const KEY_LENGTH = 64

function derive(password: string, salt: string): Promise<Buffer> {
  return passwordHashes.scrypt(password, salt, KEY_LENGTH)
}

async function hashWithSalt(password: string, salt: string): Promise<string> {
  return `${salt}:${(await derive(password, salt)).toString('hex')}`
}

/** A new account-password hash, `salt:hash`. */
export function hashPassword(password: string): Promise<string> {
  return hashWithSalt(password, randomBytes(16).toString('hex'))
}

/** Whether `password` matches a stored `salt:hash` (false for a malformed one). Constant-time compare. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const colon = stored.indexOf(':')
  if (colon < 0) return false
  const salt = stored.slice(0, colon)
  const expectedHex = stored.slice(colon + 1)
  if (!/^[0-9a-f]+$/i.test(expectedHex) || expectedHex.length % 2 !== 0) return false
  const expected = Buffer.from(expectedHex, 'hex')
  const actual = await derive(password, salt)
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

/** The deterministic hash of an app password for `did` (what app_password.passwordScrypt holds). */
export function hashAppPassword(did: string, password: string): Promise<string> {
  const salt = createHash('sha256').update(did, 'utf8').digest().subarray(0, 16).toString('hex')
  return hashWithSalt(password, salt)
}

/** A new app password, `xxxx-xxxx-xxxx-xxxx`. */
export function generateAppPassword(): string {
  return newAppPassword()
}
