// The rule of LIMIT_PARAM (src/storage/sqlite.ts) as one predicate over SQL text, for the tests that
// check it: on the source (test/storage/sqlite.test.ts) and on what a running server prepares
// (test/storage/planned-values.test.ts).

/** A row limit bound as a bare parameter, which SQLite 3.53 compiles again on every run. */
export const BARE_LIMIT = /\bLIMIT\s+[?@:$]/

/**
 * Whether SQL text binds a value SQLite plans with: a bare row limit, or (SQLite 3.54) an
 * equality with a bare parameter in a statement that joins, or that orders and limits.
 */
export function bindsPlannedValue(sql: string): boolean {
  const compact = sql.replace(/\s+/g, ' ')
  if (BARE_LIMIT.test(compact)) return true
  const plansWithValues = /\bJOIN\b/.test(compact) || (/\bORDER BY\b/.test(compact) && /\bLIMIT\b/.test(compact))
  return plansWithValues && /(?<![+<>!])= ?[?@:$]/.test(compact)
}
