// Values that look valid to a method's lexicon (so the handler is reached, not only the
// validator), drawn from the accounts, records and blobs that exist on the server under test,
// and small mutations of them (a field dropped, a type swapped, a string over its limit, a key
// that is not one, a value nested 10,000 levels deep).
import { lexicons } from '../../src/lexicons.ts'

export type Rand = () => number

/** What exists on the server: the generator draws most identifiers from here. */
export interface Pools {
  dids: string[]
  handles: string[]
  collections: string[]
  rkeys: string[]
  uris: string[]
  recordCids: string[]
  blobCids: string[]
  inviteCodes: string[]
}

// A lexicon node, loosely: the generator reads whichever of these fields the type has.
interface Schema {
  type: string
  format?: string
  ref?: string
  refs?: string[]
  required?: string[]
  properties?: Record<string, Schema>
  items?: Schema
  record?: Schema
  minLength?: number
  maxLength?: number
  maxGraphemes?: number
  minimum?: number
  maximum?: number
  knownValues?: string[]
  enum?: Array<string | number>
  const?: unknown
  default?: unknown
  accept?: string[]
}

export const RECORD_COLLECTIONS = [
  'app.bsky.feed.post',
  'app.bsky.feed.like',
  'app.bsky.feed.repost',
  'app.bsky.graph.follow',
  'app.bsky.graph.block',
  'app.bsky.actor.profile',
  'app.bsky.feed.threadgate',
  'app.bsky.graph.list',
  'com.example.fuzz.unknown',
]

const MAX_DEPTH = 6

export class ValueGen {
  constructor(
    readonly rand: Rand,
    readonly pools: Pools,
  ) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]
  }

  chance(p: number): boolean {
    return this.rand() < p
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.rand() * (max - min + 1))
  }

  /** Query params for a method: required ones always, optional ones often. */
  params(def: Schema | undefined, docId: string): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    if (!def?.properties) return out
    for (const [name, prop] of Object.entries(def.properties)) {
      if (!def.required?.includes(name) && !this.chance(0.5)) continue
      out[name] = this.byName(name, prop, docId, 0)
    }
    return out
  }

  /** A value for a schema node (`docId` resolves local `#refs`). */
  value(schema: Schema, docId: string, depth = 0): unknown {
    switch (schema.type) {
      case 'boolean':
        return schema.const ?? this.chance(0.5)
      case 'integer': {
        if (schema.const !== undefined) return schema.const
        if (schema.enum) return this.pick(schema.enum)
        const min = schema.minimum ?? 0
        const max = schema.maximum ?? Math.max(min + 100, 100)
        return this.int(min, Math.min(max, min + 1000))
      }
      case 'string':
        return this.string(schema)
      case 'bytes':
        return { $bytes: Buffer.from(Array.from({ length: this.int(0, 16) }, () => this.int(0, 255))).toString('base64').replace(/=+$/, '') }
      case 'cid-link':
        return { $link: this.pick(this.pools.recordCids) }
      case 'blob':
        return this.blobRef()
      case 'unknown':
        return depth >= MAX_DEPTH ? {} : this.record(this.pick(RECORD_COLLECTIONS), depth + 1)
      case 'token':
        return docId
      case 'array': {
        if (!schema.items || depth >= MAX_DEPTH) return []
        const min = schema.minLength ?? 0
        const max = Math.min(schema.maxLength ?? 3, min + 3)
        return Array.from({ length: this.int(min, Math.max(min, max)) }, () => this.value(schema.items as Schema, docId, depth + 1))
      }
      case 'object':
      case 'params':
        return this.object(schema, docId, depth)
      case 'ref': {
        const [id, target] = this.resolve(schema.ref as string, docId)
        if (!target || depth >= MAX_DEPTH) return {}
        return this.value(target, id, depth + 1)
      }
      case 'union': {
        if (!schema.refs?.length || depth >= MAX_DEPTH) return {}
        const ref = this.pick(schema.refs)
        const [id, target, full] = this.resolve(ref, docId)
        if (!target) return {}
        const v = this.value(target, id, depth + 1)
        if (v && typeof v === 'object' && !Array.isArray(v)) return { $type: full.endsWith('#main') ? full.slice(0, -5) : full, ...(v as object) }
        return v
      }
      case 'record':
        return this.value(schema.record as Schema, docId, depth)
      default:
        return null
    }
  }

  /** A record of a collection: valid for its lexicon when there is one. */
  record(collection: string, depth = 0): Record<string, unknown> {
    const def = lexicons().getDef(collection) as Schema | undefined
    if (!def || def.type !== 'record') return { $type: collection, text: 'unknown collection', n: this.int(0, 9) }
    const body = this.value(def.record as Schema, collection, depth) as Record<string, unknown>
    return { $type: collection, ...body }
  }

  blobRef(): Record<string, unknown> {
    return { $type: 'blob', ref: { $link: this.pick(this.pools.blobCids) }, mimeType: 'image/png', size: this.int(1, 2000) }
  }

  private object(schema: Schema, docId: string, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      if (!schema.required?.includes(name) && !this.chance(0.4)) continue
      out[name] = this.byName(name, prop, docId, depth + 1)
    }
    // A write's record follows its collection.
    if (typeof out.collection === 'string') {
      if ('record' in out) out.record = this.record(out.collection)
      if ('value' in out) out.value = this.record(out.collection)
    }
    return out
  }

  // Names that mean the same across methods are drawn from what exists, so calls find things.
  private byName(name: string, prop: Schema, docId: string, depth: number): unknown {
    if (prop.type === 'string' && !prop.enum && !prop.knownValues) {
      switch (name) {
        case 'repo':
        case 'did':
        case 'actor':
          return prop.format === 'handle' ? this.pick(this.pools.handles) : this.identifier(prop.format)
        case 'collection':
          return this.pick(this.pools.collections)
        case 'rkey':
          return this.pick(this.pools.rkeys)
        case 'cid':
          return this.pick([...this.pools.recordCids, ...this.pools.blobCids])
        case 'uri':
          if (prop.format === 'at-uri') return this.pick(this.pools.uris)
          break
        case 'code':
        case 'inviteCode':
          if (this.pools.inviteCodes.length > 0 && this.chance(0.7)) return this.pick(this.pools.inviteCodes)
          break
        case 'password':
          return this.chance(0.5) ? 'fuzz-password-1' : this.string(prop)
        case 'email':
          return `fuzz${this.int(0, 99)}@example.com`
      }
    }
    if (prop.type === 'array' && prop.items?.type === 'string') {
      if (name === 'cids') return Array.from({ length: this.int(1, 3) }, () => this.pick([...this.pools.recordCids, ...this.pools.blobCids]))
      if (name === 'dids' || name === 'actors') return Array.from({ length: this.int(1, 3) }, () => this.identifier(prop.items?.format))
    }
    return this.value(prop, docId, depth)
  }

  private identifier(format: string | undefined): string {
    if (format === 'did' || this.chance(0.6)) return this.pick(this.pools.dids)
    return this.pick(this.pools.handles)
  }

  string(schema: Schema): string {
    if (schema.const !== undefined) return String(schema.const)
    if (schema.enum) return String(this.pick(schema.enum))
    if (schema.knownValues?.length && this.chance(0.8)) return this.pick(schema.knownValues)
    switch (schema.format) {
      case 'did':
        return this.pick(this.pools.dids)
      case 'handle':
        return this.pick(this.pools.handles)
      case 'at-identifier':
        return this.identifier(undefined)
      case 'nsid':
        return this.pick(this.pools.collections)
      case 'at-uri':
        return this.pick(this.pools.uris)
      case 'cid':
        return this.pick(this.pools.recordCids)
      case 'datetime':
        return new Date(Date.UTC(2024, 0, 1) + this.int(0, 1e9) * 1000).toISOString()
      case 'record-key':
        return this.pick(this.pools.rkeys)
      case 'tid':
        return tidLike(this.rand)
      case 'uri':
        return this.pick(['https://example.com/x', 'http://127.0.0.1:1/', 'at://did:plc:abc/app.bsky.feed.post/1'])
      case 'language':
        return this.pick(['en', 'fr', 'pt-BR', 'ja'])
    }
    const min = schema.minLength ?? 1
    const max = Math.min(schema.maxLength ?? 40, schema.maxGraphemes ?? 40, 40)
    const len = this.int(Math.min(min, max), Math.max(min, max))
    let s = ''
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 '
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(this.rand() * alphabet.length)]
    return s
  }

  /** [doc id, def, full ref] for a ref written in `docId` (`#local`, `nsid`, `nsid#name`). */
  private resolve(ref: string, docId: string): [string, Schema | undefined, string] {
    const bare = ref.startsWith('lex:') ? ref.slice(4) : ref
    const full = bare.startsWith('#') ? `${docId}${bare}` : bare.includes('#') ? bare : `${bare}#main`
    const id = full.slice(0, full.indexOf('#'))
    let def: Schema | undefined
    try {
      def = lexicons().getDef(full) as Schema | undefined
    } catch {
      def = undefined
    }
    return [id, def, full]
  }

  // -------------------------------------------------------------------------------------------
  // Mutations

  /** One small mutation somewhere in `value` (a JSON object or array); returns the new value. */
  mutate(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return this.mutant(value)
    const clone = structuredClone(value) as Record<string, unknown> | unknown[]
    // Walk down a random path, then mutate one slot there.
    let node: Record<string, unknown> | unknown[] = clone
    for (let i = 0; i < 4; i++) {
      const keys = Object.keys(node)
      if (keys.length === 0) break
      const key = this.pick(keys)
      const child = (node as Record<string, unknown>)[key]
      if (child !== null && typeof child === 'object' && this.chance(0.6)) node = child as Record<string, unknown>
      else break
    }
    const keys = Object.keys(node)
    const r = this.rand()
    if (keys.length > 0 && r < 0.25) {
      delete (node as Record<string, unknown>)[this.pick(keys)]
    } else if (keys.length > 0 && r < 0.8) {
      const key = this.pick(keys)
      ;(node as Record<string, unknown>)[key] = this.mutant((node as Record<string, unknown>)[key])
    } else if (!Array.isArray(node)) {
      node[this.pick(['extra', '$type', '__proto__', 'constructor', '', 'record', 'x'.repeat(300)])] = this.mutant(undefined)
    } else {
      node.push(this.mutant(undefined))
    }
    return clone
  }

  /** A replacement for one value: a wrong type, an edge of a range, a string that is not what it claims. */
  mutant(old: unknown): unknown {
    const options: Array<() => unknown> = [
      () => null,
      () => this.pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, NaN]),
      () => this.pick(['', ' ', 'null', '..', '.', '/', '\u0000', 'é', '😀'.repeat(400), '%00', '../../etc/passwd']),
      () => 'x'.repeat(this.pick([129, 513, 3001, 70_000])),
      () => this.pick([true, false]),
      () => [],
      () => ({}),
      () => [old, old],
      () => ({ $link: this.pick(['nope', 'bafy', this.pick(this.pools.recordCids)]) }),
      () => ({ $bytes: this.pick(['!!', '', 'AAAA', '=']) }),
      () => ({ $type: 'blob', ref: { $link: 'bafkreinope' }, mimeType: 'x', size: -1 }),
      () => this.pick(['did:plc:' + 'a'.repeat(24), 'did:web:127.0.0.1', 'did:web:localhost%3A1', 'did:example:x', 'did:plc:', 'DID:PLC:X', 'handle.invalid']),
      () => this.pick(['app.bsky.feed.post', '..', 'a.b', 'com.example.' + 'x'.repeat(400), 'app.bsky.feed.post/x']),
      () => this.pick(['at://did:plc:nope/app.bsky.feed.post/x', 'at://..', 'at://' + this.pick(this.pools.dids) + '/../..', 'https://x']),
      () => deepValue(this.int(200, 400), this.chance(0.5)),
    ]
    if (typeof old === 'string') options.push(() => old + old, () => old.slice(0, Math.floor(old.length / 2)), () => old.toUpperCase())
    if (typeof old === 'number') options.push(() => String(old), () => old + 1, () => -old)
    return this.pick(options)()
  }
}

/** A value nested `depth` levels deep, as arrays or as objects. */
export function deepValue(depth: number, arrays: boolean): unknown {
  let v: unknown = arrays ? [] : { leaf: 1 }
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { a: v }
  return v
}

/** The JSON text of a value nested `depth` levels (built as text: JSON.stringify would overflow). */
export function deepJsonText(depth: number, arrays: boolean, wrap?: (inner: string) => string): string {
  const inner = arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
  return wrap ? wrap(inner) : inner
}

const S32 = '234567abcdefghijklmnopqrstuvwxyz'

function tidLike(rand: Rand): string {
  let s = S32[Math.floor(rand() * 16)]
  for (let i = 1; i < 13; i++) s += S32[Math.floor(rand() * 32)]
  return s
}
