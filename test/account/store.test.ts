import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { AccountConflictError } from '../../src/account/errors.ts'
import { REFRESH_GRACE_MS } from '../../src/account/refresh-tokens.ts'
import { formatAccountStatus } from '../../src/account/status.ts'
import { ALICE, BOB, CAROL, CID, addAccount, tempStore } from './helpers.ts'
import { xrpcError } from '../helpers/xrpc-error.ts'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR


function conflict(field: string) {
  return (err: unknown) => err instanceof AccountConflictError && err.field === field
}

test('accounts: create, look up by DID, handle and email (case-insensitively), repo_root mirror', () => {
  const t = tempStore()
  try {
    t.store.createAccount({
      did: ALICE,
      handle: 'alice.test',
      email: 'Alice@Example.COM',
      passwordHash: 'abc:def',
      repoCid: CID,
      repoRev: '3kaaaaaaaaaa2',
      refreshToken: { id: 'rt1', expiresAt: new Date(t.clock.now() + 90 * DAY).toISOString() },
    })
    const row = t.store.getAccount(ALICE)
    assert.deepEqual(row, {
      did: ALICE,
      handle: 'alice.test',
      createdAt: '2026-01-01T00:00:00.000Z',
      takedownRef: null,
      deactivatedAt: null,
      deleteAfter: null,
      email: 'alice@example.com', // stored lower-cased
      emailConfirmedAt: null,
      invitesDisabled: 0,
    })
    assert.equal(t.store.getAccount('ALICE.Test')?.did, ALICE)
    assert.equal(t.store.getAccountByEmail('ALICE@example.com')?.did, ALICE)
    assert.equal(t.store.getAccount('nobody.test'), null)
    assert.equal(t.store.getAccountByEmail('nobody@example.com'), null)
    assert.equal(t.store.getPasswordHash(ALICE), 'abc:def')
    assert.deepEqual(t.store.getRepoRoot(ALICE), { cid: CID, rev: '3kaaaaaaaaaa2', indexedAt: '2026-01-01T00:00:00.000Z' })
    assert.equal(t.store.getRefreshToken('rt1')?.did, ALICE)
    assert.deepEqual([...t.store.getAccounts([ALICE, BOB]).keys()], [ALICE])
  } finally {
    t.cleanup()
  }
})

test('accounts: a taken DID, handle or email is refused and leaves nothing behind', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    assert.throws(() => addAccount(t.store, ALICE, 'other.test', { email: 'other@example.com' }), conflict('did'))
    assert.throws(() => addAccount(t.store, BOB, 'ALICE.test', { email: 'bob@example.com' }), conflict('handle'))
    assert.throws(() => addAccount(t.store, BOB, 'bob.test', { email: 'ALICE@example.com' }), conflict('email'))
    assert.equal(t.store.getAccount(BOB, { includeDeactivated: true, includeTakenDown: true }), null)
    assert.equal(t.store.getRepoRoot(BOB), null)
  } finally {
    t.cleanup()
  }
})

test('accounts: getAccountState answers as getAccount, with only the DID and the state columns', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test', { deactivated: true })
    addAccount(t.store, CAROL, 'carol.test')
    t.store.setTakedown(CAROL, { applied: true, ref: 'mod-1' })
    // An actor without an account row (entryway-style) is found by both.
    t.db.prepare(`INSERT INTO "actor" ("did", "handle", "createdAt") VALUES (?, ?, ?)`).run('did:plc:actoronly', 'solo.test', '2026-01-01T00:00:00.000Z')
    const all = { includeDeactivated: true, includeTakenDown: true }
    const flagSets = [undefined, { includeDeactivated: true }, { includeTakenDown: true }, all]
    for (const id of [ALICE, BOB, CAROL, 'did:plc:actoronly', 'did:plc:nobody', 'ALICE.test', 'Bob.Test', 'carol.test', 'SOLO.test', 'nobody.test']) {
      for (const flags of flagSets) {
        const full = t.store.getAccount(id, flags)
        const narrow = t.store.getAccountState(id, flags)
        const expected = full && { did: full.did, takedownRef: full.takedownRef, deactivatedAt: full.deactivatedAt }
        assert.deepEqual(narrow, expected, `${id} ${JSON.stringify(flags)}`)
      }
    }
    assert.equal(t.store.getAccountState(CAROL, all)?.takedownRef, 'mod-1')
    assert.ok(t.store.getAccountState('bob.test', all)?.deactivatedAt)
    assert.equal(t.store.getAccountState('solo.test')?.did, 'did:plc:actoronly')
  } finally {
    t.cleanup()
  }
})

test('accounts: status as formatAccountStatus; lookups hide taken-down and deactivated accounts unless asked', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test', { deactivated: true })
    const bob = t.store.getAccount(BOB, { includeDeactivated: true })!
    assert.equal(bob.deactivatedAt, '2026-01-01T00:00:00.000Z')
    assert.equal(bob.deleteAfter, '2026-01-04T00:00:00.000Z') // three days, as official
    assert.equal(t.store.getAccount(BOB), null)
    assert.equal(t.store.getAccountStatus(BOB), 'deactivated')

    t.store.setTakedown(ALICE, { applied: true, ref: 'mod-1' })
    assert.equal(t.store.getAccount(ALICE), null)
    assert.equal(t.store.getAccount('alice.test', { includeTakenDown: true })?.takedownRef, 'mod-1')
    assert.equal(t.store.getAccountStatus('alice.test'), 'takendown')
    assert.deepEqual(t.store.getAdminStatus(ALICE), { takedown: { applied: true, ref: 'mod-1' }, deactivated: { applied: false } })
    t.store.setTakedown(ALICE, { applied: false })
    assert.equal(t.store.getAccountStatus(ALICE), 'active')
    t.store.setTakedown(ALICE, { applied: true }) // ref defaults to the time
    assert.equal(t.store.getAdminStatus(ALICE)?.takedown.ref, '2026-01-01T00:00:00.000Z')

    assert.equal(t.store.getAccountStatus(CAROL), 'deleted')
    assert.deepEqual(formatAccountStatus(null), { active: false, status: 'deleted' })
    assert.deepEqual(formatAccountStatus({ takedownRef: 'x', deactivatedAt: 'y' }), { active: false, status: 'takendown' })
    assert.deepEqual(formatAccountStatus({ takedownRef: null, deactivatedAt: null }), { active: true })

    t.store.activateAccount(BOB)
    assert.equal(t.store.getAccountStatus(BOB), 'active')
    assert.equal(t.store.getAccount(BOB)?.deleteAfter, null)
    t.clock.advance(HOUR)
    t.store.deactivateAccount(BOB, '2026-02-01T00:00:00.000Z')
    assert.deepEqual(
      (({ deactivatedAt, deleteAfter }) => ({ deactivatedAt, deleteAfter }))(t.store.getAccount(BOB, { includeDeactivated: true })!),
      { deactivatedAt: '2026-01-01T01:00:00.000Z', deleteAfter: '2026-02-01T00:00:00.000Z' },
    )
  } finally {
    t.cleanup()
  }
})

test('accounts: handle and email updates (conflicts, lower-casing, confirmation reset)', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    assert.throws(() => t.store.updateHandle(ALICE, 'BOB.test'), conflict('handle'))
    t.store.updateHandle(ALICE, 'alice.test') // its own handle: fine
    t.store.updateHandle(ALICE, 'alice2.test')
    assert.equal(t.store.getAccount('alice2.test')?.did, ALICE)
    assert.equal(t.store.getAccount('alice.test'), null)

    t.store.setEmailConfirmedAt(ALICE)
    t.store.createEmailToken(ALICE, 'update_email')
    t.store.createEmailToken(ALICE, 'confirm_email')
    assert.throws(() => t.store.updateEmail(ALICE, 'BOB@example.com'), conflict('email'))
    assert.ok(t.store.getAccount(ALICE)?.emailConfirmedAt) // unchanged by the refused update
    t.store.updateEmail(ALICE, 'New@Example.com')
    const row = t.store.getAccount(ALICE)!
    assert.equal(row.email, 'new@example.com')
    assert.equal(row.emailConfirmedAt, null)
    assert.equal((t.db.prepare(`SELECT count(*) n FROM email_token WHERE did = ?`).get(ALICE) as { n: number }).n, 0)
  } finally {
    t.cleanup()
  }
})

test('accounts: a password change drops the reset token and every session; app passwords stay', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const exp = new Date(t.clock.now() + DAY).toISOString()
    t.store.createAppPassword({ did: ALICE, name: 'app', passwordHash: 'h1', privileged: false })
    t.store.storeRefreshToken({ id: 'a1', did: ALICE, expiresAt: exp, appPasswordName: null })
    t.store.storeRefreshToken({ id: 'a2', did: ALICE, expiresAt: exp, appPasswordName: 'app' })
    t.store.storeRefreshToken({ id: 'b1', did: BOB, expiresAt: exp, appPasswordName: null })
    const token = t.store.createEmailToken(ALICE, 'reset_password')
    assert.equal(t.store.resetPassword(token.toLowerCase(), 'new:hash'), ALICE)
    assert.equal(t.store.getPasswordHash(ALICE), 'new:hash')
    assert.equal(t.store.getRefreshToken('a1'), null)
    assert.equal(t.store.getRefreshToken('a2'), null)
    assert.ok(t.store.getRefreshToken('b1'))
    assert.equal(t.store.listAppPasswords(ALICE).length, 1)
    // The token worked once.
    assert.throws(() => t.store.resetPassword(token, 'other:hash'), xrpcError(400, 'InvalidToken', 'Token is invalid'))
    assert.equal(t.store.getPasswordHash(ALICE), 'new:hash')
  } finally {
    t.cleanup()
  }
})

test('accounts: takedown ends sessions; deletion removes every row of the DID and nothing else', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const exp = new Date(t.clock.now() + DAY).toISOString()
    for (const did of [ALICE, BOB]) {
      t.store.storeRefreshToken({ id: `rt-${did}`, did, expiresAt: exp, appPasswordName: null })
      t.store.createAppPassword({ did, name: 'app', passwordHash: `h-${did}`, privileged: false })
      t.store.createEmailToken(did, 'confirm_email')
    }
    t.store.createInviteCodes([{ account: ALICE, codes: ['alice-code'] }], 1)
    t.store.useInviteCode('alice-code', BOB)

    // OAuth rows (schema only for now, but the official PDS may have written them).
    const ts = '2026-01-01T00:00:00.000Z'
    t.db.prepare(`INSERT INTO device (id, sessionId, ipAddress, lastSeenAt) VALUES ('dev', 'sess', '::1', ?)`).run(ts)
    for (const did of [ALICE, BOB]) {
      t.db.prepare(`INSERT INTO account_device (did, deviceId, createdAt, updatedAt) VALUES (?, 'dev', ?, ?)`).run(did, ts, ts)
      t.db.prepare(`INSERT INTO authorized_client (did, clientId, createdAt, updatedAt, data) VALUES (?, 'https://app.example', ?, ?, '{}')`).run(did, ts, ts)
      const { lastInsertRowid } = t.db
        .prepare(`INSERT INTO token (did, tokenId, createdAt, updatedAt, expiresAt, clientId, clientAuth, parameters) VALUES (?, ?, ?, ?, ?, 'c', '{}', '{}')`)
        .run(did, `tok-${did}`, ts, ts, ts)
      t.db.prepare(`INSERT INTO used_refresh_token (refreshToken, tokenId) VALUES (?, ?)`).run(`used-${did}`, lastInsertRowid)
    }
    const count = (table: string, did: string) => (t.db.prepare(`SELECT count(*) n FROM ${table} WHERE did = ?`).get(did) as { n: number }).n

    t.store.setTakedown(BOB, { applied: true })
    assert.equal(t.store.getRefreshToken(`rt-${BOB}`), null)
    assert.equal(count('token', BOB), 0) // OAuth sessions end too
    assert.equal((t.db.prepare(`SELECT count(*) n FROM used_refresh_token WHERE refreshToken = ?`).get(`used-${BOB}`) as { n: number }).n, 0)

    assert.equal(t.store.deleteAccount(ALICE), true)
    assert.equal(t.store.deleteAccount(ALICE), false)
    assert.equal((t.db.prepare(`SELECT count(*) n FROM used_refresh_token`).get() as { n: number }).n, 0)
    assert.equal(count('account_device', BOB), 1)
    for (const table of ['actor', 'account', 'repo_root', 'refresh_token', 'app_password', 'email_token', 'token', 'account_device', 'authorized_client']) {
      const n = (t.db.prepare(`SELECT count(*) n FROM ${table} WHERE did = ?`).get(ALICE) as { n: number }).n
      assert.equal(n, 0, table)
    }
    assert.equal(t.store.getAccountStatus(ALICE), 'deleted')
    assert.equal(t.store.listAppPasswords(BOB).length, 1)
    assert.ok(t.store.getAccount(BOB, { includeTakenDown: true }))
    // Invite history stays, as official.
    assert.equal(t.store.getAccountInviteCodes(ALICE)[0]?.uses[0]?.usedBy, BOB)
  } finally {
    t.cleanup()
  }
})

test('app passwords: create, list newest first, find by hash, names unique per account, revoke ends their sessions', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const a = t.store.createAppPassword({ did: ALICE, name: 'phone', passwordHash: 'h-phone', privileged: false })
    t.clock.advance(1000)
    t.store.createAppPassword({ did: ALICE, name: 'laptop', passwordHash: 'h-laptop', privileged: true })
    t.store.createAppPassword({ did: BOB, name: 'phone', passwordHash: 'h-bob', privileged: false }) // same name, other account
    assert.deepEqual(a, { name: 'phone', createdAt: '2026-01-01T00:00:00.000Z', privileged: false })
    assert.throws(() => t.store.createAppPassword({ did: ALICE, name: 'phone', passwordHash: 'x', privileged: false }), conflict('appPassword'))
    assert.deepEqual(t.store.listAppPasswords(ALICE), [
      { name: 'laptop', createdAt: '2026-01-01T00:00:01.000Z', privileged: true },
      { name: 'phone', createdAt: '2026-01-01T00:00:00.000Z', privileged: false },
    ])
    assert.deepEqual(t.store.findAppPassword(ALICE, 'h-laptop'), { name: 'laptop', privileged: true })
    assert.equal(t.store.findAppPassword(BOB, 'h-laptop'), null)

    const exp = new Date(t.clock.now() + DAY).toISOString()
    t.store.storeRefreshToken({ id: 'p1', did: ALICE, expiresAt: exp, appPasswordName: 'phone' })
    t.store.storeRefreshToken({ id: 'l1', did: ALICE, expiresAt: exp, appPasswordName: 'laptop' })
    t.store.storeRefreshToken({ id: 'm1', did: ALICE, expiresAt: exp, appPasswordName: null })
    t.store.storeRefreshToken({ id: 'b1', did: BOB, expiresAt: exp, appPasswordName: 'phone' })
    assert.deepEqual(t.store.getRefreshToken('l1')?.appPassword, { name: 'laptop', privileged: true })
    assert.deepEqual(t.store.getSession('p1'), { did: ALICE, appPasswordName: 'phone' })

    assert.equal(t.store.revokeAppPassword(ALICE, 'phone'), true)
    assert.equal(t.store.revokeAppPassword(ALICE, 'phone'), false)
    assert.equal(t.store.getSession('p1'), null)
    assert.ok(t.store.getSession('l1'))
    assert.ok(t.store.getSession('m1'))
    assert.ok(t.store.getSession('b1')) // Bob's "phone" is another app password
    assert.deepEqual(t.store.listAppPasswords(ALICE).map((p) => p.name), ['laptop'])
  } finally {
    t.cleanup()
  }
})

test('refresh tokens: rotation keeps the old token for a 2-hour grace, reuse in grace gives the same next id, then refused', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    const exp90 = () => new Date(t.clock.now() + 90 * DAY).toISOString()
    t.store.storeRefreshToken({ id: 'x', did: ALICE, expiresAt: exp90(), appPasswordName: null })

    const first = t.store.rotateRefreshToken('x', { nextExpiresAt: exp90() })!
    assert.equal(first.did, ALICE)
    assert.equal(first.appPassword, null)
    assert.match(first.nextId, /^[A-Za-z0-9+/]{43}$/) // 32 bytes, base64 without padding
    const old = t.store.getRefreshToken('x')!
    assert.equal(old.nextId, first.nextId)
    assert.equal(old.expiresAt, new Date(t.clock.now() + REFRESH_GRACE_MS).toISOString())
    const next = t.store.getRefreshToken(first.nextId)!
    assert.equal(next.expiresAt, exp90())

    // A retry within the grace period: same successor, old expiry not extended.
    t.clock.advance(REFRESH_GRACE_MS - 1)
    const again = t.store.rotateRefreshToken('x', { nextExpiresAt: exp90() })!
    assert.equal(again.nextId, first.nextId)
    assert.equal(t.store.getRefreshToken('x')!.expiresAt, old.expiresAt)
    assert.equal(t.store.getRefreshToken(first.nextId)!.expiresAt, next.expiresAt) // the successor row is kept as it was

    // Past the grace period: refused, and tidied away.
    t.clock.advance(1)
    assert.equal(t.store.rotateRefreshToken('x', { nextExpiresAt: exp90() }), null)
    assert.equal(t.store.getRefreshToken('x'), null)

    // The successor rotates on.
    const second = t.store.rotateRefreshToken(first.nextId, { nextExpiresAt: exp90() })!
    assert.notEqual(second.nextId, first.nextId)
    // Someone else's DID: refused, untouched.
    assert.equal(t.store.rotateRefreshToken(second.nextId, { nextExpiresAt: exp90(), did: BOB }), null)
    assert.equal(t.store.getRefreshToken(second.nextId)!.nextId, null)
    assert.equal(t.store.rotateRefreshToken('unknown', { nextExpiresAt: exp90() }), null)
  } finally {
    t.cleanup()
  }
})

test('refresh tokens: a token near its own expiry keeps that expiry; expired ones are refused and collected per DID', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const at = (ms: number) => new Date(t.clock.now() + ms).toISOString()
    t.store.storeRefreshToken({ id: 'soon', did: ALICE, expiresAt: at(30 * MIN), appPasswordName: 'app' })
    t.store.storeRefreshToken({ id: 'past', did: ALICE, expiresAt: at(-MIN), appPasswordName: null })
    t.store.storeRefreshToken({ id: 'bob-past', did: BOB, expiresAt: at(-MIN), appPasswordName: null })
    const r = t.store.rotateRefreshToken('soon', { nextExpiresAt: at(90 * DAY) })!
    assert.equal(t.store.getRefreshToken('soon')!.expiresAt, at(30 * MIN)) // min(original, now + grace)
    assert.equal(t.store.getRefreshToken(r.nextId)!.appPassword?.name, 'app') // the successor keeps the app password
    assert.equal(t.store.getRefreshToken('past'), null) // Alice's expired token collected on the way
    assert.ok(t.store.getRefreshToken('bob-past')) // Bob's is not Alice's rotation's business
    assert.equal(t.store.rotateRefreshToken('bob-past', { nextExpiresAt: at(90 * DAY) }), null)
    assert.equal(t.store.getRefreshToken('bob-past'), null)
    assert.equal(t.store.revokeRefreshToken(r.nextId), true)
    assert.equal(t.store.getRefreshToken('soon'), null) // the session's whole chain goes, its predecessor too
    assert.equal(t.store.revokeRefreshToken(r.nextId), false)
    t.store.storeRefreshToken({ id: 'later', did: ALICE, expiresAt: at(DAY), appPasswordName: null })
    assert.equal(t.store.revokeRefreshTokensByDid(ALICE), true)
    assert.equal(t.store.getRefreshToken('later'), null)
  } finally {
    t.cleanup()
  }
})

test('invites: official code format, admin codes with use counts, disabled codes, codes of taken-down accounts', () => {
  const t = tempStore({ hostname: 'pds.example.com' })
  try {
    const codes = t.store.generateInviteCodes(3)
    for (const c of codes) assert.match(c, /^pds-example-com-[a-z2-7]{5}-[a-z2-7]{5}$/)
    assert.equal(new Set(codes).size, 3)
    t.store.createInviteCodes([{ account: 'admin', codes: [codes[0]] }], 2)
    addAccount(t.store, ALICE, 'alice.test', { inviteCode: codes[0] })
    assert.equal(t.store.isInviteAvailable(codes[0]), true)
    addAccount(t.store, BOB, 'bob.test', { inviteCode: codes[0] })
    assert.equal(t.store.isInviteAvailable(codes[0]), false)
    assert.throws(
      () => addAccount(t.store, CAROL, 'carol.test', { inviteCode: codes[0] }),
      xrpcError(400, 'InvalidInviteCode', 'Provided invite code not available'),
    )
    assert.equal(t.store.getAccount(CAROL), null) // nothing created
    assert.throws(() => t.store.ensureInviteAvailable('no-such-code'), xrpcError(400, 'InvalidInviteCode'))

    t.store.createInviteCodes([{ account: ALICE, codes: [codes[1]] }, { account: BOB, codes: [codes[2]] }], 5)
    t.store.useInviteCode(codes[1], CAROL)
    assert.throws(() => t.store.useInviteCode(codes[1], CAROL), xrpcError(400, 'InvalidInviteCode')) // one use per account
    t.store.disableInviteCodes({ codes: [codes[1]] })
    assert.equal(t.store.isInviteAvailable(codes[1]), false)
    t.store.setTakedown(BOB, { applied: true })
    assert.equal(t.store.isInviteAvailable(codes[2]), false) // a taken-down account's codes do not work

    const alice = t.store.getAccountInviteCodes(ALICE)
    assert.deepEqual(alice, [
      {
        code: codes[1],
        available: 5,
        disabled: true,
        forAccount: ALICE,
        createdBy: 'admin',
        createdAt: '2026-01-01T00:00:00.000Z',
        uses: [{ usedBy: CAROL, usedAt: '2026-01-01T00:00:00.000Z' }],
      },
    ])
    assert.deepEqual(Object.keys(t.store.getInvitedByForAccounts([ALICE, BOB, CAROL])).sort(), [ALICE, BOB, CAROL].sort())
    assert.equal(t.store.getInvitedByForAccounts([CAROL])[CAROL]?.code, codes[1])
    t.store.disableInviteCodes({ accounts: [BOB] })
    assert.equal(t.store.getAccountsInviteCodes([BOB]).get(BOB)?.[0]?.disabled, true)
    t.store.setAccountInvitesDisabled(ALICE, true)
    assert.equal(t.store.getAccount(ALICE)?.invitesDisabled, 1)
  } finally {
    t.cleanup()
  }
})

test('invites: a user\'s periodic codes are refused whole when another request made some meanwhile', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    t.store.createInviteCodes([{ account: ALICE, codes: ['gift'] }], 1) // admin gifts do not count
    const made = t.store.createAccountInviteCodes(ALICE, ['c1', 'c2'], 2, false)
    assert.deepEqual(made.map((c) => [c.code, c.available, c.createdBy, c.disabled, c.uses.length]), [
      ['c1', 1, ALICE, false, 0],
      ['c2', 1, ALICE, false, 0],
    ])
    assert.throws(() => t.store.createAccountInviteCodes(ALICE, ['c3'], 2, false), xrpcError(400, 'DuplicateCreate'))
    assert.deepEqual(t.store.getAccountInviteCodes(ALICE).map((c) => c.code).sort(), ['c1', 'c2', 'gift'])
    const disabled = t.store.createAccountInviteCodes(ALICE, ['c4'], 3, true)
    assert.equal(disabled[0].disabled, true)
    assert.equal(t.store.isInviteAvailable('c4'), false)
  } finally {
    t.cleanup()
  }
})

test('invites: admin listing by recency or usage, with the official cursor', () => {
  const t = tempStore()
  try {
    for (let i = 0; i < 5; i++) {
      t.store.createInviteCodes([{ account: 'admin', codes: [`code-${i}`] }], 10)
      t.clock.advance(1000)
    }
    t.store.useInviteCode('code-1', ALICE)
    t.store.useInviteCode('code-1', BOB)
    t.store.useInviteCode('code-3', ALICE)
    const p1 = t.store.listInviteCodes({ sort: 'recent', limit: 2 })
    assert.deepEqual(p1.codes.map((c) => c.code), ['code-4', 'code-3'])
    assert.equal(p1.cursor, `${Date.parse('2026-01-01T00:00:03.000Z')}::code-3`)
    const p2 = t.store.listInviteCodes({ sort: 'recent', limit: 2, cursor: p1.cursor })
    assert.deepEqual(p2.codes.map((c) => c.code), ['code-2', 'code-1'])
    assert.equal(p2.codes[1].uses.length, 2)
    const p3 = t.store.listInviteCodes({ sort: 'recent', limit: 2, cursor: p2.cursor })
    assert.deepEqual(p3.codes.map((c) => c.code), ['code-0'])
    const u1 = t.store.listInviteCodes({ sort: 'usage', limit: 2 })
    assert.deepEqual(u1.codes.map((c) => c.code), ['code-1', 'code-3'])
    assert.equal(u1.cursor, '1::code-3')
    const u2 = t.store.listInviteCodes({ sort: 'usage', limit: 10, cursor: u1.cursor })
    assert.deepEqual(u2.codes.map((c) => c.code), ['code-4', 'code-2', 'code-0'])
    for (const cursor of ['nonsense', 'a::b::c', 'x::code-1', '::code-1']) {
      assert.throws(() => t.store.listInviteCodes({ sort: 'recent', limit: 2, cursor }), xrpcError(400, 'InvalidRequest', 'Malformed cursor'))
    }
  } finally {
    t.cleanup()
  }
})

test('invites: processes racing for one code use it exactly as many times as it allows', async () => {
  const t = tempStore()
  try {
    t.store.createInviteCodes([{ account: 'admin', codes: ['race'] }], 10)
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const script = fileURLToPath(new URL('./invite-worker.ts', import.meta.url))
    const procs = Array.from({ length: 6 }, (_, w) => {
      const dids = Array.from({ length: 20 }, (_, i) => `did:plc:w${w}u${i}`)
      const child = spawn(process.execPath, ['--import', 'tsx', script, t.path, 'race', ...dids], {
        cwd: root,
        stdio: ['pipe', 'pipe', 'inherit'],
      })
      let out = ''
      let readyResolve: () => void
      const ready = new Promise<void>((r) => (readyResolve = r))
      const result = new Promise<{ used: number; refused: number }>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          if (out.startsWith('ready\n')) readyResolve()
        })
        child.on('error', reject)
        child.on('exit', (status) => {
          if (status !== 0) return reject(new Error(`invite worker exited with ${status}`))
          resolve(JSON.parse(out.slice('ready\n'.length)))
        })
      })
      return { child, ready, result }
    })
    await Promise.all(procs.map((p) => p.ready))
    for (const p of procs) p.child.stdin.end('go\n')
    const done = await Promise.all(procs.map((p) => p.result))
    assert.equal(done.reduce((n, r) => n + r.used, 0), 10)
    assert.equal(done.reduce((n, r) => n + r.refused, 0), 110)
    assert.equal(t.store.getInviteCodesUses(['race']).race.length, 10)
    assert.equal(t.store.isInviteAvailable('race'), false)
  } finally {
    t.cleanup()
  }
})

test('email tokens: XXXXX-XXXXX, one per purpose and account, valid 15 minutes, any case, used once', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const first = t.store.createEmailToken(ALICE, 'confirm_email')
    assert.match(first, /^[A-Z2-7]{5}-[A-Z2-7]{5}$/)
    const second = t.store.createEmailToken(ALICE, 'confirm_email') // replaces the first
    assert.notEqual(second, first)
    assert.equal(t.store.checkEmailToken(ALICE, 'confirm_email', first), 'invalid')
    assert.equal(t.store.checkEmailToken(ALICE, 'confirm_email', second.toLowerCase()), 'valid')
    assert.equal(t.store.checkEmailToken(ALICE, 'delete_account', second), 'invalid') // other purpose
    assert.equal(t.store.checkEmailToken(BOB, 'confirm_email', second), 'invalid') // other account

    t.clock.advance(15 * MIN - 1)
    t.store.assertValidEmailToken(ALICE, 'confirm_email', second)
    t.clock.advance(1)
    assert.equal(t.store.checkEmailToken(ALICE, 'confirm_email', second), 'expired')
    assert.throws(() => t.store.assertValidEmailToken(ALICE, 'confirm_email', second), xrpcError(400, 'ExpiredToken', 'Token is expired'))
    assert.throws(() => t.store.confirmEmail(ALICE, second), xrpcError(400, 'ExpiredToken'))

    const third = t.store.createEmailToken(ALICE, 'confirm_email')
    t.store.confirmEmail(ALICE, third)
    assert.equal(t.store.getAccount(ALICE)?.emailConfirmedAt, '2026-01-01T00:15:00.000Z')
    assert.throws(() => t.store.confirmEmail(ALICE, third), xrpcError(400, 'InvalidToken', 'Token is invalid'))

    const del = t.store.createEmailToken(BOB, 'delete_account')
    assert.equal(t.store.findDidByEmailToken('delete_account', del.toLowerCase()), BOB)
    t.store.consumeEmailToken(BOB, 'delete_account', del)
    assert.throws(() => t.store.consumeEmailToken(BOB, 'delete_account', del), xrpcError(400, 'InvalidToken'))
    assert.throws(() => t.store.findDidByEmailToken('delete_account', del), xrpcError(400, 'InvalidToken'))

    t.store.createEmailToken(BOB, 'plc_operation')
    t.store.createEmailToken(BOB, 'update_email')
    t.store.deleteEmailToken(BOB, 'plc_operation')
    assert.equal((t.db.prepare(`SELECT count(*) n FROM email_token WHERE did = ?`).get(BOB) as { n: number }).n, 1)
    t.store.deleteAllEmailTokens(BOB)
    assert.equal((t.db.prepare(`SELECT count(*) n FROM email_token WHERE did = ?`).get(BOB) as { n: number }).n, 0)
  } finally {
    t.cleanup()
  }
})

test('repo_root: heads mirrored; listRepos in creation order with status and the official cursor', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    t.clock.advance(1000)
    addAccount(t.store, BOB, 'bob.test', { deactivated: true })
    t.clock.advance(1000)
    addAccount(t.store, CAROL, 'carol.test')
    t.store.setTakedown(CAROL, { applied: true })
    t.clock.advance(1000)
    t.store.updateRepoRoot(ALICE, 'bafyreinewhead', '3kbbbbbbbbbb2')
    assert.deepEqual(t.store.getRepoRoot(ALICE), { cid: 'bafyreinewhead', rev: '3kbbbbbbbbbb2', indexedAt: '2026-01-01T00:00:00.000Z' })
    t.store.updateRepoRoot('did:plc:unhosted', 'bafyreix', '3kcccccccccc2') // a root without an actor is not listed

    const page1 = t.store.listRepos({ limit: 2 })
    assert.deepEqual(page1.repos, [
      { did: ALICE, head: 'bafyreinewhead', rev: '3kbbbbbbbbbb2', active: true },
      { did: BOB, head: CID, rev: '3kaaaaaaaaaa2', active: false, status: 'deactivated' },
    ])
    assert.equal(page1.cursor, `${Date.parse('2026-01-01T00:00:01.000Z')}::${BOB}`)
    const page2 = t.store.listRepos({ limit: 2, cursor: page1.cursor })
    assert.deepEqual(page2.repos, [{ did: CAROL, head: CID, rev: '3kaaaaaaaaaa2', active: false, status: 'takendown' }])
    const page3 = t.store.listRepos({ limit: 2, cursor: page2.cursor })
    assert.deepEqual(page3, { repos: [], cursor: undefined })
    assert.throws(() => t.store.listRepos({ limit: 2, cursor: 'abc::did:plc:x' }), xrpcError(400, 'InvalidRequest', 'Malformed cursor'))
  } finally {
    t.cleanup()
  }
})

test('statements are prepared once per store', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    let prepares = 0
    const prepare = t.db.prepare.bind(t.db)
    t.db.prepare = ((sql: string) => {
      prepares++
      return prepare(sql)
    }) as typeof t.db.prepare
    for (let i = 0; i < 3; i++) t.store.getAccount(ALICE)
    const afterFirst = prepares
    for (let i = 0; i < 50; i++) t.store.getAccount(ALICE)
    assert.equal(prepares, afterFirst)
  } finally {
    t.cleanup()
  }
})
