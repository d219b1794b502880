// `hearth email-codes <handle|did|email>`: the codes waiting in the account database for one
// account (email confirmation, password reset, email update, account deletion, PLC operation,
// sign-in), so that an operator without an email service configured can hand a user the code
// the PDS would have mailed. Reads the database directly (read-only; safe while the server runs).
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type CliContext, CliError, loadCliConfig, usageError } from './context.ts'

export const EMAIL_CODES_USAGE = `Usage: hearth email-codes <handle|did|email>

Prints the codes the PDS has issued to one account and not yet used (confirm_email,
reset_password, update_email, delete_account, plc_operation…), with their age: what the user
would have received by email. Codes expire 15 minutes after they are requested.
`

const TTL_MS = 15 * 60_000

export async function emailCodesCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    throw usageError((err as Error).message, EMAIL_CODES_USAGE)
  }
  if (parsed.values.help) {
    ctx.io.out(EMAIL_CODES_USAGE)
    return 0
  }
  const [who, extra] = parsed.positionals
  if (!who || extra !== undefined) throw usageError('email-codes needs one handle, DID or email', EMAIL_CODES_USAGE)
  const config = await loadCliConfig(ctx, { secrets: 'none' })
  const file = config.db.accountDbLocation
  if (!existsSync(file)) throw new CliError(`no account database at ${file}: run this where the server keeps its data`)
  const { openDb } = await import('../storage/sqlite.ts')
  const db = openDb(file, { readonly: true })
  try {
    const id = who.toLowerCase()
    const row = db
      .prepare(
        `SELECT a."did" AS did, a."handle" AS handle FROM "actor" a LEFT JOIN "account" c ON c."did" = a."did"
         WHERE a."did" = +? OR a."handle" = +? OR lower(c."email") = +? LIMIT 1`,
      )
      .get(who, id, id) as { did: string; handle: string | null } | undefined
    if (!row) throw new CliError(`no account on this PDS has the handle, DID or email ${who}`)
    const tokens = db
      .prepare(`SELECT "purpose", "token", "requestedAt" FROM "email_token" WHERE "did" = ? ORDER BY "requestedAt" DESC`)
      .all(row.did) as Array<{ purpose: string; token: string; requestedAt: string }>
    const now = Date.now()
    const live = tokens.filter((t) => now - Date.parse(t.requestedAt) < TTL_MS)
    if (live.length === 0) {
      ctx.io.out(`No pending codes for ${row.handle ?? row.did} (${row.did}).\n`)
      return 0
    }
    ctx.io.out(`Pending codes for ${row.handle ?? row.did} (${row.did}):\n`)
    for (const t of live) {
      const minutes = Math.floor((now - Date.parse(t.requestedAt)) / 60_000)
      ctx.io.out(`  ${t.purpose.padEnd(16)} ${t.token}   requested ${minutes} min ago\n`)
    }
    return 0
  } finally {
    db.close()
  }
}
