// What a requested OAuth scope lets the client do, in plain words for the consent page. Every
// scope string is parsed with @atproto/oauth-scopes; one that is not understood is shown as is,
// so nothing requested is hidden from the user.
import { oauthScopes } from '../../auth/oauth-libs.ts'

const COLLECTION_NAMES: Record<string, string> = {
  'app.bsky.feed.post': 'posts',
  'app.bsky.feed.like': 'likes',
  'app.bsky.feed.repost': 'reposts',
  'app.bsky.feed.threadgate': 'reply settings',
  'app.bsky.feed.postgate': 'quote settings',
  'app.bsky.feed.generator': 'feeds',
  'app.bsky.graph.follow': 'follows',
  'app.bsky.graph.block': 'blocks',
  'app.bsky.graph.list': 'lists',
  'app.bsky.graph.listitem': 'list entries',
  'app.bsky.graph.listblock': 'list blocks',
  'app.bsky.graph.starterpack': 'starter packs',
  'app.bsky.actor.profile': 'your profile',
  'chat.bsky.actor.declaration': 'your chat settings',
}

const ACTION_VERBS: Record<string, string> = { create: 'Create', update: 'Update', delete: 'Delete' }

function listWords(words: string[]): string {
  if (words.length <= 1) return words.join('')
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`
  return `${n} bytes`
}

export interface DescribeOptions {
  /** The server's upload limit, bytes (PDS_BLOB_UPLOAD_LIMIT). */
  blobLimit: number
}

/** One line per scope, in request order, duplicates removed. */
export function describeScopes(scope: string | undefined, opts: DescribeOptions): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (const s of (scope ?? '').split(' ').filter(Boolean)) {
    const line = describeScope(s, opts)
    if (line !== null && !seen.has(line)) {
      seen.add(line)
      out.push(line)
    }
  }
  return out
}

export function describeScope(scope: string, opts: DescribeOptions): string | null {
  switch (scope) {
    case 'atproto':
      return 'Know your account identifier (DID) and handle'
    case 'transition:generic':
      return 'Act on your behalf in any app: read and write your public data (not your chat messages or email address)'
    case 'transition:chat.bsky':
      return 'Chat messages: read and send your direct messages'
    case 'transition:email':
      return 'Read your email address'
  }
  const { AccountPermission, BlobPermission, IdentityPermission, IncludeScope, RepoPermission, RpcPermission } = oauthScopes()
  const repo = RepoPermission.fromString(scope)
  if (repo) {
    const actions = repo.action.map((a) => ACTION_VERBS[a] ?? a)
    const verb = listWords(actions.map((a, i) => (i === 0 ? a : a.toLowerCase())))
    if (repo.collection.includes('*')) return `${verb} any records in your repository`
    const things = repo.collection.map((c) => (COLLECTION_NAMES[c] ? `${COLLECTION_NAMES[c]} (${c})` : `records of type ${c}`))
    return `${verb} ${listWords(things)}`
  }
  const blob = BlobPermission.fromString(scope)
  if (blob) {
    const kinds = blob.accept.includes('*/*') ? 'files' : `files (${blob.accept.join(', ')})`
    return `Upload ${kinds} up to ${formatBytes(opts.blobLimit)} each`
  }
  const account = AccountPermission.fromString(scope)
  if (account) {
    const manage = account.action.includes('manage')
    switch (account.attr) {
      case 'email':
        return manage ? 'Read and change your email address' : 'Read your email address'
      case 'repo':
        return manage ? 'Import or replace your whole repository' : 'Read your repository status'
      case 'status':
        return manage ? 'Deactivate or reactivate your account' : 'Read your account status'
    }
  }
  const identity = IdentityPermission.fromString(scope)
  if (identity) {
    return identity.attr === 'handle' ? 'Change your handle' : 'Manage your identity (handle and DID document)'
  }
  const rpc = RpcPermission.fromString(scope)
  if (rpc) {
    const methods = rpc.lxm.includes('*') ? 'any method' : listWords([...rpc.lxm])
    const service = rpc.aud === '*' ? 'any service' : rpc.aud
    return `Call ${methods} on ${service} as you`
  }
  const include = IncludeScope.fromString(scope)
  if (include) return `The permission set ${include.nsid}${include.aud ? ` for ${include.aud}` : ''}`
  return `Other permission: ${scope}`
}
