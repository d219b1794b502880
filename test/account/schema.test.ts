// account.sqlite's schema against the official PDS's migrations 001–007
// (@atproto/pds account-manager/db/migrations). Two expectations, both derived from those files:
// the tables and columns they declare, and the exact statements SQLite stores when Kysely runs
// them (captured from the official migrations run through Kysely, 0.4.217), so the official PDS
// opening a Hearth-made file finds the very schema its own migrations would have made.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { accountMigrations, emailAuthFactorMigration, migrateAccountDb, openAccountDb } from '../../src/account/db.ts'
import { AccountStore } from '../../src/account/store.ts'
import { migrate, openDb } from '../../src/storage/sqlite.ts'

// [column, type, not null, default, primary-key position] per table, as the migrations declare them.
const OFFICIAL_COLUMNS: Record<string, Array<[string, string, 0 | 1, string | null, number]>> = {
  app_password: [
    ['did', 'varchar', 1, null, 1],
    ['name', 'varchar', 1, null, 2],
    ['passwordScrypt', 'varchar', 1, null, 0],
    ['createdAt', 'varchar', 1, null, 0],
    ['privileged', 'integer', 1, '0', 0], // 003
  ],
  invite_code: [
    ['code', 'varchar', 0, null, 1],
    ['availableUses', 'integer', 1, null, 0],
    ['disabled', 'int2', 0, '0', 0],
    ['forAccount', 'varchar', 1, null, 0],
    ['createdBy', 'varchar', 1, null, 0],
    ['createdAt', 'varchar', 1, null, 0],
  ],
  invite_code_use: [
    ['code', 'varchar', 1, null, 1],
    ['usedBy', 'varchar', 1, null, 2],
    ['usedAt', 'varchar', 1, null, 0],
  ],
  refresh_token: [
    ['id', 'varchar', 0, null, 1],
    ['did', 'varchar', 1, null, 0],
    ['expiresAt', 'varchar', 1, null, 0],
    ['nextId', 'varchar', 0, null, 0],
    ['appPasswordName', 'varchar', 0, null, 0],
  ],
  repo_root: [
    ['did', 'varchar', 0, null, 1],
    ['cid', 'varchar', 1, null, 0],
    ['rev', 'varchar', 1, null, 0],
    ['indexedAt', 'varchar', 1, null, 0],
  ],
  actor: [
    ['did', 'varchar', 0, null, 1],
    ['handle', 'varchar', 0, null, 0],
    ['createdAt', 'varchar', 1, null, 0],
    ['takedownRef', 'varchar', 0, null, 0],
    ['deactivatedAt', 'varchar', 0, null, 0], // 002
    ['deleteAfter', 'varchar', 0, null, 0], // 002
  ],
  account: [
    ['did', 'varchar', 0, null, 1],
    ['email', 'varchar', 1, null, 0],
    ['passwordScrypt', 'varchar', 1, null, 0],
    ['emailConfirmedAt', 'varchar', 0, null, 0],
    ['invitesDisabled', 'int2', 1, '0', 0],
  ],
  email_token: [
    ['purpose', 'varchar', 1, null, 1],
    ['did', 'varchar', 1, null, 2],
    ['token', 'varchar', 1, null, 0],
    ['requestedAt', 'varchar', 1, null, 0],
  ],
  authorization_request: [
    ['id', 'varchar', 0, null, 1],
    ['did', 'varchar', 0, null, 0],
    ['deviceId', 'varchar', 0, null, 0],
    ['clientId', 'varchar', 1, null, 0],
    ['clientAuth', 'varchar', 1, null, 0],
    ['parameters', 'varchar', 1, null, 0],
    ['expiresAt', 'varchar', 1, null, 0],
    ['code', 'varchar', 0, null, 0],
  ],
  device: [
    ['id', 'varchar', 0, null, 1],
    ['sessionId', 'varchar', 1, null, 0],
    ['userAgent', 'varchar', 0, null, 0],
    ['ipAddress', 'varchar', 1, null, 0],
    ['lastSeenAt', 'varchar', 1, null, 0],
  ],
  device_account: [
    ['did', 'varchar', 1, null, 2],
    ['deviceId', 'varchar', 1, null, 1],
    ['authenticatedAt', 'varchar', 1, null, 0],
    ['remember', 'boolean', 1, null, 0],
    ['authorizedClients', 'varchar', 1, null, 0],
  ],
  token: [
    ['id', 'integer', 0, null, 1],
    ['did', 'varchar', 1, null, 0],
    ['tokenId', 'varchar', 1, null, 0],
    ['createdAt', 'varchar', 1, null, 0],
    ['updatedAt', 'varchar', 1, null, 0],
    ['expiresAt', 'varchar', 1, null, 0],
    ['clientId', 'varchar', 1, null, 0],
    ['clientAuth', 'varchar', 1, null, 0],
    ['deviceId', 'varchar', 0, null, 0],
    ['parameters', 'varchar', 1, null, 0],
    ['details', 'varchar', 0, null, 0],
    ['code', 'varchar', 0, null, 0],
    ['currentRefreshToken', 'varchar', 0, null, 0],
    ['scope', 'varchar', 0, null, 0], // 006
  ],
  used_refresh_token: [
    ['refreshToken', 'varchar', 0, null, 1],
    ['tokenId', 'integer', 1, null, 0],
  ],
  account_device: [
    ['did', 'varchar', 1, null, 2],
    ['deviceId', 'varchar', 1, null, 1],
    ['createdAt', 'varchar', 1, null, 0],
    ['updatedAt', 'varchar', 1, null, 0],
  ],
  authorized_client: [
    ['did', 'varchar', 1, null, 1],
    ['clientId', 'varchar', 1, null, 2],
    ['createdAt', 'varchar', 1, null, 0],
    ['updatedAt', 'varchar', 1, null, 0],
    ['data', 'varchar', 1, null, 0],
  ],
  lexicon: [
    ['nsid', 'varchar', 0, null, 1],
    ['createdAt', 'varchar', 1, null, 0],
    ['updatedAt', 'varchar', 1, null, 0],
    ['lastSucceededAt', 'varchar', 0, null, 0],
    ['uri', 'varchar', 0, null, 0],
    ['lexicon', 'varchar', 0, null, 0],
  ],
}

// The statements SQLite keeps for the official schema, as Kysely issues them (named indexes and tables).
const OFFICIAL_SQL: Record<string, string> = {
  app_password: `CREATE TABLE "app_password" ("did" varchar not null, "name" varchar not null, "passwordScrypt" varchar not null, "createdAt" varchar not null, "privileged" integer default 0 not null, constraint "app_password_pkey" primary key ("did", "name"))`,
  invite_code: `CREATE TABLE "invite_code" ("code" varchar primary key, "availableUses" integer not null, "disabled" int2 default 0, "forAccount" varchar not null, "createdBy" varchar not null, "createdAt" varchar not null)`,
  invite_code_for_account_idx: `CREATE INDEX "invite_code_for_account_idx" on "invite_code" ("forAccount")`,
  invite_code_use: `CREATE TABLE "invite_code_use" ("code" varchar not null, "usedBy" varchar not null, "usedAt" varchar not null, constraint "invite_code_use_pkey" primary key ("code", "usedBy"))`,
  refresh_token: `CREATE TABLE "refresh_token" ("id" varchar primary key, "did" varchar not null, "expiresAt" varchar not null, "nextId" varchar, "appPasswordName" varchar)`,
  refresh_token_did_idx: `CREATE INDEX "refresh_token_did_idx" on "refresh_token" ("did")`,
  repo_root: `CREATE TABLE "repo_root" ("did" varchar primary key, "cid" varchar not null, "rev" varchar not null, "indexedAt" varchar not null)`,
  actor: `CREATE TABLE "actor" ("did" varchar primary key, "handle" varchar, "createdAt" varchar not null, "takedownRef" varchar, "deactivatedAt" varchar, "deleteAfter" varchar)`,
  actor_handle_lower_idx: `CREATE UNIQUE INDEX "actor_handle_lower_idx" on "actor" (lower("handle"))`,
  actor_cursor_idx: `CREATE INDEX "actor_cursor_idx" on "actor" ("createdAt", "did")`,
  account: `CREATE TABLE "account" ("did" varchar primary key, "email" varchar not null, "passwordScrypt" varchar not null, "emailConfirmedAt" varchar, "invitesDisabled" int2 default 0 not null)`,
  account_email_lower_idx: `CREATE UNIQUE INDEX "account_email_lower_idx" on "account" (lower("email"))`,
  email_token: `CREATE TABLE "email_token" ("purpose" varchar not null, "did" varchar not null, "token" varchar not null, "requestedAt" varchar not null, constraint "email_token_pkey" primary key ("purpose", "did"), constraint "email_token_purpose_token_unique" unique ("purpose", "token"))`,
  authorization_request: `CREATE TABLE "authorization_request" ("id" varchar primary key, "did" varchar, "deviceId" varchar, "clientId" varchar not null, "clientAuth" varchar not null, "parameters" varchar not null, "expiresAt" varchar not null, "code" varchar)`,
  authorization_request_code_idx: `CREATE UNIQUE INDEX "authorization_request_code_idx" on "authorization_request" (code DESC) WHERE (code IS NOT NULL)`,
  authorization_request_expires_at_idx: `CREATE INDEX "authorization_request_expires_at_idx" on "authorization_request" ("expiresAt")`,
  device: `CREATE TABLE "device" ("id" varchar primary key, "sessionId" varchar not null, "userAgent" varchar, "ipAddress" varchar not null, "lastSeenAt" varchar not null, constraint "device_session_id_idx" unique ("sessionId"))`,
  device_account: `CREATE TABLE "device_account" ("did" varchar not null, "deviceId" varchar not null, "authenticatedAt" varchar not null, "remember" boolean not null, "authorizedClients" varchar not null, constraint "device_account_pk" primary key ("deviceId", "did"), constraint "device_account_device_id_fk" foreign key ("deviceId") references "device" ("id") on delete cascade on update cascade)`,
  token: `CREATE TABLE "token" ("id" integer primary key autoincrement, "did" varchar not null, "tokenId" varchar not null, "createdAt" varchar not null, "updatedAt" varchar not null, "expiresAt" varchar not null, "clientId" varchar not null, "clientAuth" varchar not null, "deviceId" varchar, "parameters" varchar not null, "details" varchar, "code" varchar, "currentRefreshToken" varchar, "scope" varchar, constraint "token_current_refresh_token_unique_idx" unique ("currentRefreshToken"), constraint "token_id_unique_idx" unique ("tokenId"))`,
  token_did_idx: `CREATE INDEX "token_did_idx" on "token" ("did")`,
  token_code_idx: `CREATE UNIQUE INDEX "token_code_idx" on "token" (code DESC) WHERE (code IS NOT NULL)`,
  used_refresh_token: `CREATE TABLE "used_refresh_token" ("refreshToken" varchar primary key, "tokenId" integer not null, constraint "used_refresh_token_fk" foreign key ("tokenId") references "token" ("id") on delete cascade on update cascade)`,
  used_refresh_token_id_idx: `CREATE INDEX "used_refresh_token_id_idx" on "used_refresh_token" ("tokenId")`,
  account_device: `CREATE TABLE "account_device" ("did" varchar not null, "deviceId" varchar not null, "createdAt" varchar not null, "updatedAt" varchar not null, constraint "account_device_pk" primary key ("deviceId", "did"), constraint "account_device_did_fk" foreign key ("did") references "account" ("did") on delete cascade on update cascade, constraint "account_device_device_id_fk" foreign key ("deviceId") references "device" ("id") on delete cascade on update cascade)`,
  account_device_did_idx: `CREATE INDEX "account_device_did_idx" on "account_device" ("did")`,
  authorized_client: `CREATE TABLE "authorized_client" ("did" varchar not null, "clientId" varchar not null, "createdAt" varchar not null, "updatedAt" varchar not null, "data" varchar not null, constraint "authorized_client_pk" primary key ("did", "clientId"), constraint "authorized_client_did_fk" foreign key ("did") references "account" ("did") on delete cascade on update cascade)`,
  lexicon: `CREATE TABLE "lexicon" ("nsid" varchar primary key, "createdAt" varchar not null, "updatedAt" varchar not null, "lastSucceededAt" varchar, "uri" varchar, "lexicon" varchar)`,
  lexicon_failures_idx: `CREATE INDEX "lexicon_failures_idx" on "lexicon" ("updatedAt" DESC) WHERE ("lexicon" is NULL)`,
}

const TRACKING = new Set(['kysely_migration', 'kysely_migration_lock', 'hearth_migration', 'sqlite_sequence'])

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-account-schema-'))
  try {
    fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('a fresh account.sqlite has exactly the tables and columns the official migrations declare', () => {
  withTempDir((dir) => {
    const db = openAccountDb(join(dir, 'account.sqlite'))
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>)
      .map((r) => r.name)
      // Hearth's own tables (hearth_*) are pinned by the next test.
      .filter((n) => !TRACKING.has(n) && !n.startsWith('hearth_'))
    assert.deepEqual(tables, Object.keys(OFFICIAL_COLUMNS).sort())
    for (const [table, columns] of Object.entries(OFFICIAL_COLUMNS)) {
      const info = db.pragma(`table_info("${table}")`) as Array<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>
      assert.deepEqual(
        info.map((c) => [c.name, c.type.toLowerCase(), c.notnull, c.dflt_value, c.pk]),
        columns,
        `columns of ${table}`,
      )
    }
    db.close()
  })
})

test('every official table and index is stored as the official migrations make it; Hearth adds only hearth_* objects', () => {
  withTempDir((dir) => {
    const db = openAccountDb(join(dir, 'account.sqlite'))
    const rows = db.prepare(`SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL`).all() as Array<{ type: string; name: string; sql: string }>
    const official: Record<string, string> = {}
    const extra: string[] = []
    for (const r of rows) {
      if (TRACKING.has(r.name)) continue
      if (r.name.startsWith('hearth_')) extra.push(r.name)
      else official[r.name] = r.sql
    }
    assert.deepEqual(official, OFFICIAL_SQL)
    assert.deepEqual(extra.sort(), ['hearth_invite_code_use_used_by_idx', 'hearth_move_in', 'hearth_move_in_browser_key_idx', 'hearth_repo_root_seq'])
    // Official migrations are recorded under their official names, in Kysely's table.
    assert.deepEqual(
      (db.prepare(`SELECT name FROM kysely_migration ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name),
      ['001', '002', '003', '004', '005', '006', '007'],
    )
    assert.deepEqual(
      (db.prepare(`SELECT name FROM hearth_migration`).all() as Array<{ name: string }>).map((r) => r.name),
      accountMigrations.hearth!.map((m) => m.name),
    )
    // The official PDS opens this file with foreign keys enforced; so does Hearth.
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1)
    db.close()
  })
})

test('an account.sqlite the official PDS migrated part-way is completed; a current one is left alone', () => {
  withTempDir((dir) => {
    const path = join(dir, 'account.sqlite')
    // The official PDS at a release that had migrations 001–003 only.
    const old = openDb(path)
    migrate(old, { official: accountMigrations.official.slice(0, 3) })
    old.prepare(`INSERT INTO actor (did, handle, createdAt) VALUES ('did:plc:x', 'x.test', '2024-01-01T00:00:00.000Z')`).run()
    old.close()

    const db = openAccountDb(path)
    assert.equal((db.prepare(`SELECT count(*) AS n FROM kysely_migration`).get() as { n: number }).n, 7)
    assert.ok(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'lexicon_failures_idx'`).get())
    assert.deepEqual(db.prepare(`SELECT did, handle FROM actor`).all(), [{ did: 'did:plc:x', handle: 'x.test' }])
    const before = db.prepare(`SELECT name, timestamp FROM kysely_migration ORDER BY name`).all()
    migrateAccountDb(db) // again: nothing to run
    assert.deepEqual(db.prepare(`SELECT name, timestamp FROM kysely_migration ORDER BY name`).all(), before)
    db.close()
  })
})

test('migration 005 moves remembered device sessions of existing accounts, as the official one does', () => {
  withTempDir((dir) => {
    const path = join(dir, 'account.sqlite')
    const db = openDb(path)
    migrate(db, { official: accountMigrations.official.slice(0, 4) })
    const recent = new Date(Date.now() - 60_000).toISOString()
    const old = new Date(Date.now() - 2 * 3600_000).toISOString()
    db.exec(`INSERT INTO account (did, email, passwordScrypt) VALUES ('did:plc:a', 'a@x.test', 's:h')`)
    db.exec(`INSERT INTO device (id, sessionId, ipAddress, lastSeenAt) VALUES ('dev1', 's1', '::1', '${recent}')`)
    const ins = db.prepare(`INSERT INTO device_account (did, deviceId, authenticatedAt, remember, authorizedClients) VALUES (?, 'dev1', ?, ?, '[]')`)
    ins.run('did:plc:a', recent, 1) // remembered, account exists: moved
    ins.run('did:plc:gone', recent, 1) // remembered, account deleted: not moved
    ins.run('did:plc:b', old, 0) // not remembered and stale: deleted
    migrate(db, accountMigrations)
    assert.deepEqual(db.prepare(`SELECT did, deviceId, createdAt, updatedAt FROM account_device`).all(), [
      { did: 'did:plc:a', deviceId: 'dev1', createdAt: recent, updatedAt: recent },
    ])
    assert.deepEqual(
      (db.prepare(`SELECT did FROM device_account ORDER BY did`).all() as Array<{ did: string }>).map((r) => r.did),
      ['did:plc:a', 'did:plc:gone'],
    )
    db.close()
  })
})

test('an official 0.5.36+ account.sqlite (migration 008 applied, a factor on) opens in place and keeps the factor', () => {
  withTempDir((dir) => {
    const path = join(dir, 'account.sqlite')
    const official = openDb(path)
    migrate(official, { official: [...accountMigrations.official, emailAuthFactorMigration] })
    official.exec(`INSERT INTO actor (did, handle, createdAt) VALUES ('did:plc:f', 'f.test', '2026-01-01T00:00:00.000Z')`)
    official.exec(`INSERT INTO account (did, email, passwordScrypt, emailConfirmedAt) VALUES ('did:plc:f', 'f@x.test', 's:h', '2026-01-01T00:00:00.000Z')`)
    official.exec(`INSERT INTO account_email_auth_factor (did, emailAuthFactorEnabledAt) VALUES ('did:plc:f', '2026-01-02T00:00:00.000Z')`)
    official.close()

    const db = openAccountDb(path)
    assert.deepEqual(
      (db.prepare(`SELECT name FROM kysely_migration ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name),
      ['001', '002', '003', '004', '005', '006', '007', '008'],
    )
    const store = new AccountStore(db)
    assert.equal(store.getEmailAuthFactor('did:plc:f'), '2026-01-02T00:00:00.000Z')
    // A new address turns it off, as official.
    store.updateEmail('did:plc:f', 'g@x.test')
    assert.equal(store.getEmailAuthFactor('did:plc:f'), null)
    db.close()
  })
})
