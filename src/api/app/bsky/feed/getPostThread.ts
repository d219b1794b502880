// app.bsky.feed.getPostThread: proxied; the requester's unindexed replies are added to the
// thread, and a thread the AppView does not know yet (NotFound) is built from local posts when
// its root is the requester's own.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { getLocalLag, getRecordsSinceRev, type LocalRecord, LocalViewer } from '../../../../proxy/local-viewer.ts'
import { proxiedAccessAuth } from '../../../../proxy/pipethrough.ts'
import { formatMungedResponse, pipethroughReadAfterWrite } from '../../../../proxy/read-after-write.ts'
import { UpstreamError } from '../../../../proxy/upstream.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod, XrpcOutput } from '../../../../xrpc/types.ts'

type Json = Record<string, unknown>

const NSID = 'app.bsky.feed.getPostThread'
const THREAD_VIEW = 'app.bsky.feed.defs#threadViewPost'

export default function getPostThread(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>): XrpcMethod<AccessAuth> {
  return {
    nsid: NSID,
    auth: proxiedAccessAuth(s, NSID),
    handler: async (ctx) => {
      try {
        return await pipethroughReadAfterWrite(s, ctx, async (viewer, original, local) => {
          if (!isThreadView(original.thread)) return original
          return { ...original, thread: await addPostsToThread(viewer, original.thread, local.posts) }
        })
      } catch (err) {
        if (!(err instanceof UpstreamError) || err.error !== 'NotFound') throw err
        const rev = err.upstreamHeaders['atproto-repo-rev']
        if (!rev) throw err
        const local = await notFoundFromLocal(s, ctx.auth.did, rev, ctx.params)
        if (local === null) throw err
        return local
      }
    },
  }
}

const isThreadView = (value: unknown): value is Json =>
  !!value && typeof value === 'object' && (value as Json).$type === THREAD_VIEW

const replyRef = (record: Json): { root?: string; parent?: string } => {
  const reply = record.reply as { root?: { uri?: string }; parent?: { uri?: string } } | undefined
  return { root: reply?.root?.uri, parent: reply?.parent?.uri }
}

async function addPostsToThread(viewer: LocalViewer, original: Json, posts: LocalRecord[]): Promise<Json> {
  const rootPost = original.post as Json
  const inThread = posts.filter((post) => {
    const root = replyRef(post.record).root
    if (!root) return false
    return root === rootPost.uri || root === replyRef(rootPost.record as Json).root
  })
  let thread = original
  for (const post of inThread) thread = await insertIntoReplies(viewer, thread, post)
  return thread
}

async function insertIntoReplies(viewer: LocalViewer, view: Json, post: LocalRecord): Promise<Json> {
  if (replyRef(post.record).parent === (view.post as Json).uri) {
    const postView = await threadPostView(viewer, post)
    if (!postView) return view
    return { ...view, replies: [postView, ...((view.replies as Json[] | undefined) ?? [])] }
  }
  const replies = view.replies as Json[] | undefined
  if (!replies) return view
  return { ...view, replies: await Promise.all(replies.map((r) => (isThreadView(r) ? insertIntoReplies(viewer, r, post) : r))) }
}

async function threadPostView(viewer: LocalViewer, post: LocalRecord): Promise<Json | null> {
  const view = await viewer.getPost(post)
  return view ? { $type: THREAD_VIEW, post: view } : null
}

async function notFoundFromLocal(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>, requester: string, rev: string, params: Record<string, unknown>): Promise<XrpcOutput | null> {
  const uri = String(params.uri)
  const parts = uri.replace(/^at:\/\//, '').split('/')
  let host = parts[0]
  if (!host.startsWith('did:')) host = s.accounts.getAccount(host)?.did ?? host
  if (host !== requester) return null
  const resolved = `at://${[host, ...parts.slice(1)].join('/')}`
  const store = s.actors.get(requester)
  if (!store) return null
  const viewer = new LocalViewer(s, store)
  const local = getRecordsSinceRev(store, rev)
  const found = local.posts.find((p) => p.uri === resolved)
  if (!found) return null
  let thread = await threadPostView(viewer, found)
  if (!thread) return null
  thread = await addPostsToThread(viewer, thread, local.posts.filter((p) => p.uri !== resolved))
  const parentUri = replyRef(found.record).parent
  if (parentUri) {
    try {
      const data = await viewer.callAppView(NSID, { uri: parentUri, parentHeight: params.parentHeight as number | undefined, depth: 0 })
      if (data?.thread) thread.parent = data.thread
    } catch {
      // The thread without its parents is still the requester's post.
    }
  }
  return formatMungedResponse({ thread }, getLocalLag(local))
}
