// Account preferences (app.bsky.actor.getPreferences/putPreferences), kept in the actor store's
// `account_pref` table as the official PDS keeps them: one row per preference, named by its
// $type, the whole preference as JSON. A put replaces a whole namespace.
import { exceedsNestingDepth, nestingTooDeepMessage } from '../repo/nesting.ts'
import { type Db, perConnection, writeTx } from '../storage/sqlite.ts'
import { invalidRequest } from '../errors.ts'

export type Preference = { $type: string } & Record<string, unknown>

export interface PreferenceAccess {
  /** A password session (not an app password): may see and set personal details. */
  hasAccessFull: boolean
}

const PERSONAL_DETAILS = 'app.bsky.actor.defs#personalDetailsPref'
/** Derived from the birth date on read; never stored. */
const DECLARED_AGE = 'app.bsky.actor.defs#declaredAgePref'

export function prefInNamespace(namespace: string, type: string): boolean {
  return type === namespace || type.startsWith(`${namespace}.`)
}

function prefAllowed(type: string, access: PreferenceAccess): boolean {
  return access.hasAccessFull || type !== PERSONAL_DETAILS
}

// Per connection (a store's connection can be replaced): the app asks for its preferences each
// time it starts, and a statement prepared per call compiled the SQL each time.
const listStatement = perConnection((db) => db.prepare('SELECT "name", "valueJson" FROM "account_pref" ORDER BY "id"'))

/** The namespace's preferences in the order they were put, plus the derived age declaration. */
export function getPreferences(db: Db, namespace: string, access: PreferenceAccess): Preference[] {
  const rows = listStatement(db).all() as Array<{
    name: string
    valueJson: string
  }>
  const prefs = rows.filter((r) => prefInNamespace(namespace, r.name)).map((r) => JSON.parse(r.valueJson) as Preference)
  const details = prefs.find((p) => p.$type === PERSONAL_DETAILS)
  if (typeof details?.birthDate === 'string') {
    const age = ageFrom(details.birthDate)
    prefs.push({ $type: DECLARED_AGE, isOverAge13: age >= 13, isOverAge16: age >= 16, isOverAge18: age >= 18 })
  }
  return prefs.filter((p) => prefAllowed(p.$type, access))
}

/**
 * Replaces every preference of the namespace the caller may see with `values`. A session
 * without full access leaves the stored personal details alone and may not set them.
 */
export function putPreferences(db: Db, values: readonly Preference[], namespace: string, access: PreferenceAccess): void {
  if (!values.every((v) => prefInNamespace(namespace, v.$type))) {
    throw invalidRequest(`Some preferences are not in the ${namespace} namespace`)
  }
  const forbidden = values.filter((v) => !prefAllowed(v.$type, access))
  if (forbidden.length > 0) {
    throw invalidRequest(`Do not have authorization to set preferences: ${forbidden.map((p) => p.$type).join(', ')}`)
  }
  // Preferences are read back through JSON and response validation, both recursive.
  const deep = values.find((v) => exceedsNestingDepth(v))
  if (deep) throw invalidRequest(`Preference ${deep.$type} is ${nestingTooDeepMessage()}`)
  writeTx(db, () => {
    const existing = db.prepare('SELECT "id", "name" FROM "account_pref"').all() as Array<{ id: number; name: string }>
    const del = db.prepare('DELETE FROM "account_pref" WHERE "id" = ?')
    for (const row of existing) {
      if (prefInNamespace(namespace, row.name) && prefAllowed(row.name, access)) del.run(row.id)
    }
    const insert = db.prepare('INSERT INTO "account_pref" ("name", "valueJson") VALUES (?, ?)')
    for (const v of values) if (v.$type !== DECLARED_AGE) insert.run(v.$type, JSON.stringify(v))
  })
}

/** Whole years since the birth date (NaN for an unparseable one, which declares nothing). */
function ageFrom(birthDate: string): number {
  const born = new Date(birthDate)
  const today = new Date()
  let age = today.getFullYear() - born.getFullYear()
  const m = today.getMonth() - born.getMonth()
  if (m < 0 || (m === 0 && today.getDate() < born.getDate())) age--
  return age
}
