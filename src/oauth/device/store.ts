// Device sessions in account.sqlite, in the official tables and encodings so that an operator
// switching from the official PDS keeps its browsers' sign-ins: `device` (one row per browser,
// keyed by the `dev-…` id of its cookie, with the rotating `ses-…` session id) and
// `account_device` (the accounts remembered on a device; the official migration 005 moved them
// there from the older `device_account`). Dates are ISO strings, as the official toDateISO writes.
import { type Db, LIMIT_PARAM } from '../../storage/sqlite.ts'

export interface DeviceRow {
  id: string
  sessionId: string
  userAgent: string | null
  ipAddress: string
  lastSeenAt: string
}

export interface DeviceAccount {
  did: string
  handle: string | null
  /** When the account last signed in on this device (the official uses it for the 7-day re-login). */
  updatedAt: string
  createdAt: string
  deactivated: boolean
}

/** A device where an account is signed in (the official account-sessions entry). */
export interface AccountDevice {
  deviceId: string
  userAgent: string | null
  ipAddress: string
  lastSeenAt: string
  /** When the account last signed in there. */
  signedInAt: string
}

export class DeviceStore {
  constructor(private readonly db: Db) {}

  createDevice(row: DeviceRow): void {
    this.db
      .prepare(`INSERT INTO "device" ("id", "sessionId", "userAgent", "ipAddress", "lastSeenAt") VALUES (?, ?, ?, ?, ?)`)
      .run(row.id, row.sessionId, row.userAgent, row.ipAddress, row.lastSeenAt)
  }

  readDevice(id: string): DeviceRow | null {
    return (this.db.prepare(`SELECT * FROM "device" WHERE "id" = ?`).get(id) as DeviceRow | undefined) ?? null
  }

  updateDevice(id: string, data: Omit<DeviceRow, 'id'>): void {
    this.db
      .prepare(`UPDATE "device" SET "sessionId" = ?, "userAgent" = ?, "ipAddress" = ?, "lastSeenAt" = ? WHERE "id" = ?`)
      .run(data.sessionId, data.userAgent, data.ipAddress, data.lastSeenAt, id)
  }

  /** Cascades to the device's remembered accounts. */
  deleteDevice(id: string): void {
    this.db.prepare(`DELETE FROM "device" WHERE "id" = ?`).run(id)
  }

  /**
   * Deletes up to `limit` devices no account is signed in on, not seen since `seenBefore`, and
   * bound to no authorization request still pending at `now`. Returns how many went.
   */
  deleteUnused(seenBefore: string, now: string, limit: number): number {
    return this.db
      .prepare(
        `DELETE FROM "device" WHERE "id" IN (
           SELECT d."id" FROM "device" d
           WHERE d."lastSeenAt" < ?
             AND NOT EXISTS (SELECT 1 FROM "account_device" ad WHERE ad."deviceId" = d."id")
             AND NOT EXISTS (SELECT 1 FROM "authorization_request" r WHERE r."deviceId" = d."id" AND r."expiresAt" > ?)
           ${LIMIT_PARAM})`,
      )
      .run(seenBefore, now, limit).changes
  }

  /** Remembers (or re-authenticates) an account on a device. */
  upsertDeviceAccount(deviceId: string, did: string, now = new Date().toISOString()): void {
    this.db
      .prepare(
        `INSERT INTO "account_device" ("did", "deviceId", "createdAt", "updatedAt") VALUES (?, ?, ?, ?)
         ON CONFLICT ("deviceId", "did") DO UPDATE SET "updatedAt" = excluded."updatedAt"`,
      )
      .run(did, deviceId, now, now)
  }

  removeDeviceAccount(deviceId: string, did: string): void {
    this.db.prepare(`DELETE FROM "account_device" WHERE "deviceId" = ? AND "did" = ?`).run(deviceId, did)
  }

  /** The accounts remembered on a device, oldest first; taken-down ones are left out, as the official lists them. */
  listDeviceAccounts(deviceId: string): DeviceAccount[] {
    const rows = this.db
      .prepare(
        `SELECT ad."did", ac."handle", ad."createdAt", ad."updatedAt", ac."deactivatedAt"
         FROM "account_device" ad
         JOIN "actor" ac ON ac."did" = ad."did"
         JOIN "account" a ON a."did" = ad."did"
         WHERE ad."deviceId" = +? AND ac."takedownRef" IS NULL
         ORDER BY ad."createdAt", ad."did"`,
      )
      .all(deviceId) as Array<{ did: string; handle: string | null; createdAt: string; updatedAt: string; deactivatedAt: string | null }>
    return rows.map((r) => ({
      did: r.did,
      handle: r.handle,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      deactivated: r.deactivatedAt !== null,
    }))
  }

  /** The devices where an account is signed in, most recently seen first. */
  listAccountDevices(did: string): AccountDevice[] {
    return this.db
      .prepare(
        `SELECT d."id" AS "deviceId", d."userAgent", d."ipAddress", d."lastSeenAt", ad."updatedAt" AS "signedInAt"
         FROM "account_device" ad JOIN "device" d ON d."id" = ad."deviceId"
         WHERE ad."did" = +? ORDER BY d."lastSeenAt" DESC, d."id"`,
      )
      .all(did) as AccountDevice[]
  }
}
