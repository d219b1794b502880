// account.sqlite, with the official PDS's schema: its migrations 001…007 under their official
// names, issuing the same statements Kysely issues for them (CREATE then ALTER, in the same
// order), so the schema SQLite stores is the same text whichever server created the file. The
// official PDS started on a Hearth data directory finds every migration applied, and Hearth
// started on an official one skips them.
//
// Migration 008 (email two-factor sign-in, official 0.5.36) is applied only once an account
// turns the factor on: see emailAuthFactorMigration.
//
// The OAuth tables (004–007) are created though Hearth does not use them yet, because the
// official PDS expects them once its migrations are recorded as done.
import { type Db, type Migration, type MigrationSet, migrate, openDb, type OpenOptions } from '../storage/sqlite.ts'

/** The account database's file name in the data directory, as the official PDS names it. */
export const ACCOUNT_DB_FILE = 'account.sqlite'

export const accountMigrations: MigrationSet = {
  official: [
    {
      name: '001',
      up(db) {
        db.exec(`
          CREATE TABLE "app_password" ("did" varchar not null, "name" varchar not null, "passwordScrypt" varchar not null, "createdAt" varchar not null, constraint "app_password_pkey" primary key ("did", "name"));
          CREATE TABLE "invite_code" ("code" varchar primary key, "availableUses" integer not null, "disabled" int2 default 0, "forAccount" varchar not null, "createdBy" varchar not null, "createdAt" varchar not null);
          CREATE INDEX "invite_code_for_account_idx" on "invite_code" ("forAccount");
          CREATE TABLE "invite_code_use" ("code" varchar not null, "usedBy" varchar not null, "usedAt" varchar not null, constraint "invite_code_use_pkey" primary key ("code", "usedBy"));
          CREATE TABLE "refresh_token" ("id" varchar primary key, "did" varchar not null, "expiresAt" varchar not null, "nextId" varchar, "appPasswordName" varchar);
          CREATE INDEX "refresh_token_did_idx" on "refresh_token" ("did");
          CREATE TABLE "repo_root" ("did" varchar primary key, "cid" varchar not null, "rev" varchar not null, "indexedAt" varchar not null);
          CREATE TABLE "actor" ("did" varchar primary key, "handle" varchar, "createdAt" varchar not null, "takedownRef" varchar);
          CREATE UNIQUE INDEX "actor_handle_lower_idx" on "actor" (lower("handle"));
          CREATE INDEX "actor_cursor_idx" on "actor" ("createdAt", "did");
          CREATE TABLE "account" ("did" varchar primary key, "email" varchar not null, "passwordScrypt" varchar not null, "emailConfirmedAt" varchar, "invitesDisabled" int2 default 0 not null);
          CREATE UNIQUE INDEX "account_email_lower_idx" on "account" (lower("email"));
          CREATE TABLE "email_token" ("purpose" varchar not null, "did" varchar not null, "token" varchar not null, "requestedAt" varchar not null, constraint "email_token_pkey" primary key ("purpose", "did"), constraint "email_token_purpose_token_unique" unique ("purpose", "token"));
        `)
      },
    },
    {
      name: '002',
      up(db) {
        db.exec(`
          alter table "actor" add column "deactivatedAt" varchar;
          alter table "actor" add column "deleteAfter" varchar;
        `)
      },
    },
    {
      name: '003',
      up(db) {
        db.exec(`alter table "app_password" add column "privileged" integer default 0 not null`)
      },
    },
    {
      name: '004',
      up(db) {
        db.exec(`
          CREATE TABLE "authorization_request" ("id" varchar primary key, "did" varchar, "deviceId" varchar, "clientId" varchar not null, "clientAuth" varchar not null, "parameters" varchar not null, "expiresAt" varchar not null, "code" varchar);
          CREATE UNIQUE INDEX "authorization_request_code_idx" on "authorization_request" (code DESC) WHERE (code IS NOT NULL);
          CREATE INDEX "authorization_request_expires_at_idx" on "authorization_request" ("expiresAt");
          CREATE TABLE "device" ("id" varchar primary key, "sessionId" varchar not null, "userAgent" varchar, "ipAddress" varchar not null, "lastSeenAt" varchar not null, constraint "device_session_id_idx" unique ("sessionId"));
          CREATE TABLE "device_account" ("did" varchar not null, "deviceId" varchar not null, "authenticatedAt" varchar not null, "remember" boolean not null, "authorizedClients" varchar not null, constraint "device_account_pk" primary key ("deviceId", "did"), constraint "device_account_device_id_fk" foreign key ("deviceId") references "device" ("id") on delete cascade on update cascade);
          CREATE TABLE "token" ("id" integer primary key autoincrement, "did" varchar not null, "tokenId" varchar not null, "createdAt" varchar not null, "updatedAt" varchar not null, "expiresAt" varchar not null, "clientId" varchar not null, "clientAuth" varchar not null, "deviceId" varchar, "parameters" varchar not null, "details" varchar, "code" varchar, "currentRefreshToken" varchar, constraint "token_current_refresh_token_unique_idx" unique ("currentRefreshToken"), constraint "token_id_unique_idx" unique ("tokenId"));
          CREATE INDEX "token_did_idx" on "token" ("did");
          CREATE UNIQUE INDEX "token_code_idx" on "token" (code DESC) WHERE (code IS NOT NULL);
          CREATE TABLE "used_refresh_token" ("refreshToken" varchar primary key, "tokenId" integer not null, constraint "used_refresh_token_fk" foreign key ("tokenId") references "token" ("id") on delete cascade on update cascade);
          CREATE INDEX "used_refresh_token_id_idx" on "used_refresh_token" ("tokenId");
        `)
      },
    },
    {
      // The official migration moves remembered device sessions to account_device (and drops
      // the rest); on a fresh database both statements touch nothing, but they run all the
      // same so an account.sqlite stopped between the official 004 and 005 migrates alike.
      name: '005',
      up(db) {
        const hourAgo = new Date(Date.now() - 60 * 60 * 1000).toISOString()
        db.prepare(`DELETE FROM "device_account" WHERE "remember" = 0 AND "authenticatedAt" < ?`).run(hourAgo)
        db.exec(`
          CREATE TABLE IF NOT EXISTS "account_device" ("did" varchar not null, "deviceId" varchar not null, "createdAt" varchar not null, "updatedAt" varchar not null, constraint "account_device_pk" primary key ("deviceId", "did"), constraint "account_device_did_fk" foreign key ("did") references "account" ("did") on delete cascade on update cascade, constraint "account_device_device_id_fk" foreign key ("deviceId") references "device" ("id") on delete cascade on update cascade);
          INSERT INTO "account_device" ("did", "deviceId", "createdAt", "updatedAt")
            SELECT "did", "deviceId", "authenticatedAt" AS "createdAt", "authenticatedAt" AS "updatedAt" FROM "device_account"
            WHERE "remember" = 1 AND EXISTS (SELECT * FROM "account" WHERE "account"."did" = "device_account"."did")
            ON CONFLICT DO NOTHING;
          CREATE INDEX "account_device_did_idx" on "account_device" ("did");
          CREATE TABLE "authorized_client" ("did" varchar not null, "clientId" varchar not null, "createdAt" varchar not null, "updatedAt" varchar not null, "data" varchar not null, constraint "authorized_client_pk" primary key ("did", "clientId"), constraint "authorized_client_did_fk" foreign key ("did") references "account" ("did") on delete cascade on update cascade);
        `)
      },
    },
    {
      name: '006',
      up(db) {
        db.exec(`
          alter table "token" add column "scope" varchar;
          CREATE TABLE "lexicon" ("nsid" varchar primary key, "createdAt" varchar not null, "updatedAt" varchar not null, "lastSucceededAt" varchar, "uri" varchar, "lexicon" varchar);
        `)
      },
    },
    {
      name: '007',
      up(db) {
        db.exec(`CREATE INDEX "lexicon_failures_idx" on "lexicon" ("updatedAt" DESC) WHERE ("lexicon" is NULL)`)
      },
    },
  ],
  hearth: [
    {
      // "Who invited these accounts" (admin views) looks invite uses up by user; the official
      // schema only indexes them by code.
      name: 'hearth-001-invite-code-use-used-by',
      up(db) {
        db.exec(`CREATE INDEX IF NOT EXISTS "hearth_invite_code_use_used_by_idx" ON "invite_code_use" ("usedBy")`)
      },
    },
    {
      // Accounts moving in through the home page (move-in-store.ts): where each stands, so an
      // interrupted move resumes. No credential is kept here (they live in memory only).
      name: 'hearth-002-move-in',
      up(db) {
        db.exec(`CREATE TABLE IF NOT EXISTS "hearth_move_in" ("did" varchar primary key, "browserKey" varchar not null, "oldPds" varchar not null, "handle" varchar not null, "email" varchar not null, "inviteCode" varchar, "step" varchar not null, "state" varchar not null, "blobsDone" integer not null default 0, "blobsTotal" integer not null default 0, "error" varchar, "createdAt" varchar not null, "updatedAt" varchar not null);
          CREATE INDEX IF NOT EXISTS "hearth_move_in_browser_key_idx" ON "hearth_move_in" ("browserKey");`)
      },
    },
    {
      // repo_root is written behind the event log, in batches (repo-root.ts): the seq up to which
      // it holds every commit, so that a start after a crash replays only the log past it.
      name: 'hearth-003-repo-root-seq',
      up(db) {
        db.exec(`CREATE TABLE IF NOT EXISTS "hearth_repo_root_seq" ("id" integer primary key, "seq" integer not null)`)
      },
    },
  ],
}

/**
 * The official 0.5.36 migration `008` (source file 008-account-email-auth-factor): email
 * two-factor sign-in, one row per account while the factor is on. Hearth applies it when an
 * account first turns the factor on, not at start: the official PDS before 0.5.36 refuses to
 * open a database whose kysely_migration names a migration it does not know, so a data
 * directory where nobody uses the factor stays one that every official release opens. Once a
 * user has it on, only an official release that enforces it (0.5.36+) can take the directory
 * over, which is what that user needs. An official 0.5.36+ directory arrives with it applied.
 */
export const emailAuthFactorMigration: Migration = {
  name: '008',
  up(db) {
    db.exec(`CREATE TABLE "account_email_auth_factor" ("did" varchar primary key, "emailAuthFactorEnabledAt" varchar not null)`)
  },
}

/** Applies migration 008 if it is not yet (see emailAuthFactorMigration). */
export function ensureEmailAuthFactorTable(db: Db): void {
  migrate(db, { official: [...accountMigrations.official, emailAuthFactorMigration] })
}

/** Whether migration 008's table exists (applied by Hearth, or by the official PDS 0.5.36+). */
export function hasEmailAuthFactorTable(db: Db): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'account_email_auth_factor'`).get() !== undefined
}

export function migrateAccountDb(db: Db): void {
  migrate(db, accountMigrations)
}

/** Opens (creating if needed) and migrates an account database, with foreign keys on as the official PDS has them. */
export function openAccountDb(path: string, opts?: OpenOptions): Db {
  const db = openDb(path, opts)
  // The official PDS opens this file with better-sqlite3's default, foreign keys enforced: the
  // OAuth tables rely on ON DELETE CASCADE from "account" and "device".
  db.pragma('foreign_keys = ON')
  try {
    if (!opts?.readonly) migrateAccountDb(db)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}
