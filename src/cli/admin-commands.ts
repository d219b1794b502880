// The pdsadmin commands, against the running server over HTTP with the admin password:
//   account list | create | delete | takedown | untakedown | reset-password, invite create,
//   request-crawl.
// Output follows pdsadmin's, so scripts and habits carry over; passwords are printed only where
// pdsadmin prints them (the generated one of account create and reset-password).
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { type AdminClient, adminClient, type CliContext, CliError, errorCode, loadCliConfig, usageError } from './context.ts'

export const ACCOUNT_USAGE = `Usage: hearth account <command> [options]

Commands:
  list                          every account: handle, email, DID, status
  create <email> <handle>       create an account (a one-use invite is minted for it);
                                prints the generated password once
  delete <did|handle> [--yes]   delete an account and everything it holds (asks first unless --yes)
  takedown <did|handle>         take an account down (sessions end, its repo stops being served)
  untakedown <did|handle>       lift a takedown
  reset-password <did|handle>   set a new generated password (printed once); ends every session

Options:
  --url <url>   the server (default: http://127.0.0.1:<PDS_PORT> locally, else https://<PDS_HOSTNAME>)
`

export const INVITE_USAGE = `Usage: hearth invite create [--uses <n>] [--for <did>] [--url <url>]

Creates an invite code (one use unless --uses says otherwise) and prints it.
`

export const CRAWL_USAGE = `Usage: hearth request-crawl [<relay host>[,<relay host>...]]

Asks relays to crawl this PDS (PDS_HOSTNAME). Without hosts, the PDS_CRAWLERS list is used.
`

/** 24 characters from [A-Za-z0-9], as pdsadmin's `openssl rand -base64 30 | tr -d "=+/" | cut -c1-24`. */
export function generatePassword(): string {
  let out = ''
  while (out.length < 24) out += randomBytes(30).toString('base64').replace(/[=+/]/g, '')
  return out.slice(0, 24)
}

interface Parsed {
  values: Record<string, string | boolean | undefined>
  positionals: string[]
}

function parse(args: string[], usage: string, options: Record<string, { type: 'string' | 'boolean' }>): Parsed {
  try {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { url: { type: 'string' }, ...options } })
    return { values: values as Parsed['values'], positionals }
  } catch (err) {
    throw usageError((err as Error).message, usage)
  }
}

/** A DID as given, or the DID a handle names on this server (taken-down and deactivated too). */
async function resolveAccount(client: AdminClient, id: string | undefined, usage: string): Promise<string> {
  if (!id) throw usageError('an account DID or handle is required', usage)
  if (id.startsWith('did:')) return id
  try {
    const res = await client.query<{ did: string }>('com.atproto.identity.resolveHandle', { params: { handle: id }, admin: false })
    return res.did
  } catch (err) {
    if (!(err instanceof CliError) || /cannot reach/.test(err.message)) throw err
  }
  // Taken-down and deactivated accounts' handles do not resolve publicly: look through the
  // accounts with the admin view, which shows every account's handle.
  const handle = id.toLowerCase()
  const found = (await allAccounts(client)).find((a) => a.info?.handle?.toLowerCase() === handle)
  if (found) return found.did
  throw new CliError(`no account on this PDS has the handle ${id} (see hearth account list)`)
}

export async function accountCommand(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args
  if (sub === undefined) throw usageError('an account command is required', ACCOUNT_USAGE)
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    ctx.io.out(ACCOUNT_USAGE)
    return 0
  }
  const { values, positionals } = parse(rest, ACCOUNT_USAGE, { yes: { type: 'boolean' } })
  const config = await loadCliConfig(ctx, { secrets: 'required' })
  const client = adminClient(config, values.url as string | undefined)
  const { out } = ctx.io
  switch (sub) {
    case 'list':
      return listAccounts(client, ctx)
    case 'create': {
      const [email, handle] = positionals
      if (!email || !handle) throw usageError('account create needs <email> <handle>', ACCOUNT_USAGE)
      const { code } = await client.procedure<{ code: string }>('com.atproto.server.createInviteCode', { body: { useCount: 1 } })
      const password = generatePassword()
      const created = await client.procedure<{ did: string; handle: string }>('com.atproto.server.createAccount', {
        body: { email, handle, password, inviteCode: code },
        admin: false,
      })
      out(
        '\nAccount created successfully!\n' +
          '-----------------------------\n' +
          `Handle   : ${created.handle}\n` +
          `DID      : ${created.did}\n` +
          `Password : ${password}\n` +
          '-----------------------------\n' +
          'Save this password, it will not be displayed again.\n\n',
      )
      return 0
    }
    case 'delete': {
      const did = await resolveAccount(client, positionals[0], ACCOUNT_USAGE)
      if (!values.yes) {
        const answer = (await ctx.io.confirm?.(`This action is permanent: ${did} and all its data will be deleted. Are you sure? (y/N) `)) ?? null
        if (answer === null) throw new CliError('refusing to delete without confirmation: pass --yes')
        if (!answer) {
          out('Not deleted.\n')
          return 1
        }
      }
      await client.procedure('com.atproto.admin.deleteAccount', { body: { did } })
      out(`${did} deleted\n`)
      return 0
    }
    case 'takedown':
    case 'untakedown': {
      const did = await resolveAccount(client, positionals[0], ACCOUNT_USAGE)
      const applied = sub === 'takedown'
      await client.procedure('com.atproto.admin.updateSubjectStatus', {
        body: {
          subject: { $type: 'com.atproto.admin.defs#repoRef', did },
          // As pdsadmin: the reference is the time of the action, in Unix seconds.
          takedown: applied ? { applied, ref: String(Math.floor(Date.now() / 1000)) } : { applied },
        },
      })
      out(applied ? `${did} taken down\n` : `${did} untaken down\n`)
      return 0
    }
    case 'reset-password': {
      const did = await resolveAccount(client, positionals[0], ACCOUNT_USAGE)
      const password = generatePassword()
      await client.procedure('com.atproto.admin.updateAccountPassword', { body: { did, password } })
      out(`\nPassword reset for ${did}\nNew password: ${password}\n\n`)
      return 0
    }
    default:
      throw usageError(`unknown account command '${sub}'`, ACCOUNT_USAGE)
  }
}

interface AccountInfo {
  did: string
  handle: string
  email?: string
}

type Repo = { did: string; active: boolean; status?: string }

/** Every account (listRepos, every page) with its admin view. */
async function allAccounts(client: AdminClient): Promise<Array<Repo & { info: AccountInfo | undefined }>> {
  const repos: Repo[] = []
  let cursor: string | undefined
  // Every page, not only the first hundred as pdsadmin.
  do {
    const page = await client.query<{ repos: Repo[]; cursor?: string }>('com.atproto.sync.listRepos', {
      params: { limit: 1000, cursor },
      admin: false,
    })
    repos.push(...page.repos)
    cursor = page.repos.length > 0 ? page.cursor : undefined
  } while (cursor)
  const infos = new Map<string, AccountInfo>()
  for (let i = 0; i < repos.length; i += 100) {
    const dids = repos.slice(i, i + 100).map((r) => r.did)
    const res = await client.query<{ infos: AccountInfo[] }>('com.atproto.admin.getAccountInfos', { params: { dids } })
    for (const info of res.infos) infos.set(info.did, info)
  }
  return repos.map((r) => ({ ...r, info: infos.get(r.did) }))
}

async function listAccounts(client: AdminClient, ctx: CliContext): Promise<number> {
  const accounts = await allAccounts(client)
  const rows = [['Handle', 'Email', 'DID', 'Status']]
  for (const { did, active, status, info } of accounts) {
    rows.push([info?.handle ?? '', info?.email ?? '', did, active ? 'active' : (status ?? 'inactive')])
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  for (const row of rows) ctx.io.out(`${row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()}\n`)
  return 0
}

export async function inviteCommand(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    ctx.io.out(INVITE_USAGE)
    return 0
  }
  if (sub !== 'create') throw usageError(sub === undefined ? 'an invite command is required' : `unknown invite command '${sub}'`, INVITE_USAGE)
  const { values, positionals } = parse(rest, INVITE_USAGE, { uses: { type: 'string' }, for: { type: 'string' } })
  if (positionals.length > 0) throw usageError(`unexpected argument '${positionals[0]}'`, INVITE_USAGE)
  const uses = typeof values.uses === 'string' ? Number(values.uses) : 1
  if (!Number.isSafeInteger(uses) || uses < 1) throw usageError('--uses must be a positive whole number', INVITE_USAGE)
  const config = await loadCliConfig(ctx, { secrets: 'required' })
  const client = adminClient(config, values.url as string | undefined)
  const body: Record<string, unknown> = { useCount: uses }
  if (typeof values.for === 'string') body.forAccount = values.for
  const { code } = await client.procedure<{ code: string }>('com.atproto.server.createInviteCode', { body })
  ctx.io.out(`${code}\n`)
  return 0
}

export async function requestCrawlCommand(args: string[], ctx: CliContext): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    ctx.io.out(CRAWL_USAGE)
    return 0
  }
  if (args.length > 1) throw usageError('request-crawl takes one comma-separated list of hosts', CRAWL_USAGE)
  const config = await loadCliConfig(ctx, { secrets: 'none' })
  const hosts = (args[0] ? args[0].split(',') : config.crawlers).map((h) => h.trim()).filter(Boolean)
  if (hosts.length === 0) throw usageError('no relay host given and PDS_CRAWLERS is empty', CRAWL_USAGE)
  let failed = 0
  for (const host of hosts) {
    ctx.io.out(`Requesting crawl from ${host}\n`)
    const base = /^https?:\/\//.test(host) ? host : `https://${host}`
    try {
      const res = await fetch(new URL('/xrpc/com.atproto.sync.requestCrawl', base), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hostname: config.service.hostname }),
        signal: AbortSignal.timeout(30_000),
      })
      if (!res.ok) {
        failed++
        ctx.io.err(`hearth: ${host} refused the crawl request: ${res.status} ${(await res.text()).slice(0, 200)}\n`)
      } else {
        await res.body?.cancel()
      }
    } catch (err) {
      failed++
      ctx.io.err(`hearth: cannot reach ${host}: ${errorCode(err)}\n`)
    }
  }
  if (failed > 0) return 1
  ctx.io.out('done\n')
  return 0
}
