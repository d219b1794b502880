import assert from 'node:assert/strict'
import { createHash, scryptSync } from 'node:crypto'
import { test } from 'node:test'
import {
  generateAppPassword,
  hashAppPassword,
  hashPassword,
  NEW_PASSWORD_MAX_LENGTH,
  OLD_PASSWORD_MAX_LENGTH,
  verifyPassword,
} from '../../src/auth/password.ts'

// Made by the official PDS 0.4.217 (account-manager/helpers/scrypt.js genSaltAndHash / hashAppPassword).
const OFFICIAL = {
  ascii: {
    password: 'correct horse battery staple',
    stored:
      '0609e05f138913d10d599f3264731b92:59b1638191b7232c21eebf2f849effbfda29764ba5f16b73b965cfabeb4c06e158f80e1a938e3d829fd7a606cb2fe831133db12001be62cf6375b58ef2145415',
  },
  unicode: {
    password: 'pässwörd ✓ 🔑',
    stored:
      '58c796bac5c4dfb7bb75eec0e109145b:05ae717cd748d3255abe561bc86d2e197bf66c733fdd649b09cd702cae20f1ccf70fe32d1723bf4ef704427ea3eb8bf0e8d433a9b139bcdf27b1ee742af979bc',
  },
  appPassword: {
    did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
    password: 'abcd-efgh-ijkl-mnop',
    stored:
      '099e4ea96cd62c05a232331859d20c97:fd2bbf28c4711cd8d02ea6a9af381222ef64fa9654f065196498e87aeb668370e1accd55a4a2cf56b303904d22367493a14af2bda8d630abaa594676edbca564',
  },
}

/**
 * The official scheme written out independently: scrypt N=2^14, r=8, p=1, 64-byte key, and the
 * salt given to scrypt is the 32-digit hex *string*; stored as `salt:hex(key)`.
 */
function referenceHash(password: string, saltHex: string): string {
  const key = scryptSync(Buffer.from(password, 'utf8'), Buffer.from(saltHex, 'ascii'), 64, { N: 16384, r: 8, p: 1 })
  return `${saltHex}:${key.toString('hex')}`
}

test('passwords hashed by the official PDS verify in Hearth; wrong ones do not', async () => {
  for (const { password, stored } of [OFFICIAL.ascii, OFFICIAL.unicode]) {
    assert.equal(await verifyPassword(password, stored), true)
    assert.equal(await verifyPassword(`${password}x`, stored), false)
    assert.equal(await verifyPassword(password.toUpperCase(), stored), false)
  }
  // The independent reference reproduces the official hash exactly.
  const [salt] = OFFICIAL.ascii.stored.split(':')
  assert.equal(referenceHash(OFFICIAL.ascii.password, salt), OFFICIAL.ascii.stored)
})

test('Hearth hashes are `<32 hex salt>:<128 hex key>` and match an independent scrypt with the official parameters', async () => {
  for (const password of ['hunter2', 'pässwörd ✓ 🔑', 'x'.repeat(NEW_PASSWORD_MAX_LENGTH)]) {
    const stored = await hashPassword(password)
    assert.match(stored, /^[0-9a-f]{32}:[0-9a-f]{128}$/)
    const [salt] = stored.split(':')
    assert.equal(referenceHash(password, salt), stored)
    assert.equal(await verifyPassword(password, stored), true)
  }
  // A fresh salt each time.
  assert.notEqual(await hashPassword('same'), await hashPassword('same'))
})

test('app-password hashes are deterministic per DID, as official', async () => {
  const { did, password, stored } = OFFICIAL.appPassword
  assert.equal(await hashAppPassword(did, password), stored)
  const salt = createHash('sha256').update(did).digest().subarray(0, 16).toString('hex')
  assert.equal(referenceHash(password, salt), stored)
  assert.notEqual(await hashAppPassword('did:plc:someoneelseaaaaaaaaaaaaa', password), stored)
})

test('malformed stored hashes never verify', async () => {
  for (const stored of ['', 'nocolon', 'salt:', 'salt:zz', 'salt:abc', ':']) {
    assert.equal(await verifyPassword('anything', stored), false, stored)
  }
})

test('hashing runs off the event loop', async () => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  try {
    await Promise.all(Array.from({ length: 4 }, () => hashPassword('hunter2')))
  } finally {
    clearInterval(timer)
  }
  assert.ok(ticks > 0, 'timers ran while scrypt was working')
})

test('app passwords are xxxx-xxxx-xxxx-xxxx in lower-case base32; limits are the official ones', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const p = generateAppPassword()
    assert.match(p, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/)
    seen.add(p)
  }
  assert.equal(seen.size, 50)
  assert.equal(NEW_PASSWORD_MAX_LENGTH, 256)
  assert.equal(OLD_PASSWORD_MAX_LENGTH, 512)
})
