// Reading the environment: typed values with a problem per malformed variable, and `.env` files.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { isValidDid } from '../repo/syntax.ts'
import type { ConfigProblem } from './types.ts'
import { SECRET_VARIABLES } from './variables.ts'

// ---------------------------------------------------------------------------------------------
// Reading values

export type Env = Record<string, string | undefined>

export class EnvReader {
  readonly problems: ConfigProblem[] = []
  readonly read = new Set<string>()

  constructor(readonly env: Env) {}

  /** A non-empty string, or undefined (unset and empty are the same, as in the official PDS). */
  str(name: string): string | undefined {
    this.read.add(name)
    const value = this.env[name]
    if (value === undefined) return undefined
    const trimmed = value.trim()
    return trimmed.length === 0 ? undefined : trimmed
  }

  /** A secret, kept exactly as written (no trimming: a password may end in a space). */
  secret(name: string): string | undefined {
    this.read.add(name)
    const value = this.env[name]
    return value === undefined || value.length === 0 ? undefined : value
  }

  fail(name: string, message: string): undefined {
    this.problems.push({ variable: name, message })
    return undefined
  }

  /** `got "<value>"` for ordinary variables; nothing for secrets. */
  shown(name: string): string {
    if (SECRET_VARIABLES.has(name)) return ''
    const value = this.env[name] ?? ''
    const cut = value.length > 100 ? `${value.slice(0, 100)}…` : value
    return ` (got ${JSON.stringify(cut)})`
  }

  int(name: string, opts: { min?: number; max?: number } = {}): number | undefined {
    const raw = this.str(name)
    if (raw === undefined) return undefined
    const min = opts.min ?? 0
    const max = opts.max ?? Number.MAX_SAFE_INTEGER
    if (!/^-?\d+$/.test(raw)) return this.fail(name, `${name} must be an integer${this.shown(name)}`)
    const n = Number(raw)
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      return this.fail(name, `${name} must be an integer from ${min} to ${max}${this.shown(name)}`)
    }
    return n
  }

  bool(name: string, accepted: { t: string[]; f: string[] } = { t: ['true', '1'], f: ['false', '0'] }): boolean | undefined {
    const raw = this.str(name)
    if (raw === undefined) return undefined
    const lower = raw.toLowerCase()
    if (accepted.t.includes(lower)) return true
    if (accepted.f.includes(lower)) return false
    return this.fail(name, `${name} must be true or false (or 1 or 0)${this.shown(name)}`)
  }

  list(name: string): string[] {
    const raw = this.str(name)
    if (raw === undefined) return []
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
  }

  url(name: string, protocols: string[] = ['http:', 'https:']): string | undefined {
    const raw = SECRET_VARIABLES.has(name) ? this.secret(name)?.trim() : this.str(name)
    if (raw === undefined) return undefined
    return this.checkUrl(name, raw, protocols)
  }

  checkUrl(name: string, raw: string, protocols: string[]): string | undefined {
    let parsed: URL
    try {
      parsed = new URL(raw)
    } catch {
      return this.fail(name, `${name} must be a URL${this.shown(name)}`)
    }
    if (!protocols.includes(parsed.protocol)) {
      return this.fail(name, `${name} must be a ${protocols.map((p) => p.slice(0, -1)).join(' or ')} URL${this.shown(name)}`)
    }
    return raw
  }

  did(name: string): string | undefined {
    const raw = this.str(name)
    if (raw === undefined) return undefined
    if (!isValidDid(raw)) return this.fail(name, `${name} must be a DID${this.shown(name)}`)
    return raw
  }
}

// ---------------------------------------------------------------------------------------------
// .env

/**
 * Parses a .env file: `KEY=value` lines, optional `export `, `#` comments, single-quoted
 * (literal), double-quoted (with \n \r \t \\ \" escapes, may span lines) or bare values
 * (a ` #` starts a comment). Lines that are not assignments are ignored.
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s?(.*)$/.exec(line)
    if (!m) continue
    const key = m[1]
    let rest = m[2].trimStart()
    const quote = rest[0]
    if (quote === '"' || quote === "'" || quote === '`') {
      let body = rest.slice(1)
      let end = findClosingQuote(body, quote)
      // Quoted values may span lines.
      while (end === -1 && i + 1 < lines.length) {
        i++
        body += '\n' + lines[i]
        end = findClosingQuote(body, quote)
      }
      if (end === -1) continue // unterminated: ignore the assignment
      const raw = body.slice(0, end)
      out[key] = quote === '"' ? unescapeDouble(raw) : raw
    } else {
      const hash = rest.search(/\s#/)
      if (hash !== -1) rest = rest.slice(0, hash)
      else if (rest.startsWith('#')) rest = ''
      out[key] = rest.trim()
    }
  }
  return out
}

function findClosingQuote(s: string, quote: string): number {
  for (let i = 0; i < s.length; i++) {
    if (quote === '"' && s[i] === '\\') {
      i++
      continue
    }
    if (s[i] === quote) return i
  }
  return -1
}

function unescapeDouble(s: string): string {
  return s.replace(/\\([nrt"\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' })[c] ?? c)
}

/** The environment with `<cwd>/.env` underneath it: a variable set in the real environment wins. */
export function environmentWithDotenv(env: NodeJS.ProcessEnv, cwd: string): Env {
  const file = path.join(cwd, '.env')
  if (!existsSync(file)) return { ...env }
  const fromFile = parseDotenv(readFileSync(file, 'utf8'))
  const merged: Env = { ...fromFile }
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value
  return merged
}
