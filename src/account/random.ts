// The random strings the account store hands out, in the official PDS's formats (clients and
// operators recognise them, and codes made by either server look alike):
// - refresh token ids: 32 random bytes, base64 without padding;
// - app passwords: 16 lower-case base32 characters in four groups, `xxxx-xxxx-xxxx-xxxx`;
// - email tokens: 10 base32 characters `xxxxx-xxxxx`, upper-cased by the store;
// - invite codes: `<hostname with dots as dashes>-xxxxx-xxxxx`, lower-case.
import { randomBytes } from 'node:crypto'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567' // RFC 4648 alphabet, lower-case (multibase `b`)

/** RFC 4648 base32 of `bytes`, lower-case, no padding. */
export function base32(bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
    value &= (1 << bits) - 1
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

/** A refresh token id (the JWT's `jti`, the refresh_token row's key). */
export function newRefreshTokenId(): string {
  return randomBytes(32).toString('base64').replace(/=+$/, '')
}

/** An app password, `xxxx-xxxx-xxxx-xxxx` (80 random bits). */
export function newAppPassword(): string {
  const s = base32(randomBytes(16)).slice(0, 16)
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}`
}

/** `xxxxx-xxxxx` (50 random bits): the tail of invite codes and, upper-cased, email tokens. */
export function newRandomToken(): string {
  const s = base32(randomBytes(8)).slice(0, 10)
  return `${s.slice(0, 5)}-${s.slice(5, 10)}`
}

/** An invite code for the PDS at `hostname`: dots become dashes so it does not read as a link. */
export function newInviteCode(hostname: string): string {
  return `${hostname.replaceAll('.', '-')}-${newRandomToken()}`
}
