// Views of an account's own records the AppView has not indexed yet, in the AppView's shapes,
// for read-after-write (the official read-after-write/viewer.ts): a just-written post shows up
// in the author's feeds and threads, a just-updated profile in profile views.
import { format } from 'node:util'
import type { ActorStore } from '../actor/store.ts'
import { decodeCbor } from '../repo/cbor.ts'
import { lexToJson } from '../repo/data-model.ts'
import type { CoreServices } from '../core-services.ts'
import type { ProxyClient } from './upstream.ts'
import { appViewQuery } from './appview.ts'

type Json = Record<string, unknown>

export interface LocalRecord {
  uri: string
  cid: string
  indexedAt: string
  record: Json
}

export interface LocalRecords {
  count: number
  profile: LocalRecord | null
  posts: LocalRecord[]
}

const INVALID_HANDLE = 'handle.invalid'
const PROFILE = 'app.bsky.actor.profile'
const POST = 'app.bsky.feed.post'

/** Records written after `rev` (at most 10, oldest first), as the official getRecordsSinceRev. */
export function getRecordsSinceRev(store: ActorStore, rev: string): LocalRecords {
  const result: LocalRecords = { count: 0, profile: null, posts: [] }
  const rows = store.recordsAfterRev(rev, 10)
  if (rows.length === 0) return result
  // A rev older than every local record (e.g. an account that moved here): nothing is known
  // about what the AppView has, so nothing is patched.
  if (!store.hasRecordsAtOrBefore(rev)) return result
  for (const row of rows) {
    result.count++
    const [collection, rkey] = row.uri.split('/').slice(3)
    if (collection !== POST && !(collection === PROFILE && rkey === 'self')) continue
    let record: Json
    try {
      record = lexToJson(decodeCbor(row.content)) as Json
    } catch {
      continue
    }
    const local = { uri: row.uri, cid: row.cid, indexedAt: row.indexedAt, record }
    if (collection === POST) result.posts.push(local)
    else result.profile = local
  }
  return result
}

/** How long the oldest local record has waited, in ms (the Atproto-Upstream-Lag header). */
export function getLocalLag(local: LocalRecords): number | undefined {
  let oldest = local.profile?.indexedAt
  for (const post of local.posts) if (!oldest || post.indexedAt < oldest) oldest = post.indexedAt
  if (!oldest) return undefined
  return Date.now() - new Date(oldest).getTime()
}

function cidOfBlob(blob: unknown): string | undefined {
  if (!blob || typeof blob !== 'object') return undefined
  const ref = (blob as Json).ref
  if (ref && typeof ref === 'object' && typeof (ref as Json).$link === 'string') return (ref as Json).$link as string
  // Legacy blobs: {cid, mimeType}.
  const cid = (blob as Json).cid
  return typeof cid === 'string' ? cid : undefined
}

const isType = (value: unknown, type: string): value is Json =>
  !!value && typeof value === 'object' && (value as Json).$type === type

export class LocalViewer {
  constructor(
    private readonly s: Pick<CoreServices, 'config' | 'accounts' | 'actors' | 'didResolver' | 'auth' | 'logger'> & { proxy: ProxyClient },
    readonly store: ActorStore,
  ) {}

  get did(): string {
    return this.store.did
  }

  /** As the official ImageUrlBuilder: the AppView CDN pattern, else this PDS's getBlob. */
  imageUrl(pattern: string, cid: string): string {
    const cdn = this.s.config.bskyAppView?.cdnUrlPattern
    if (cdn) return format(cdn, pattern, this.did, cid)
    return `https://${this.s.config.service.hostname}/xrpc/com.atproto.sync.getBlob?did=${this.did}&cid=${cid}`
  }

  getProfileRecord(): Json | null {
    const row = this.store.getRecord(PROFILE, 'self')
    if (!row) return null
    try {
      return lexToJson(decodeCbor(row.content)) as Json
    } catch {
      return null
    }
  }

  getProfileBasic(): Json | null {
    const account = this.s.accounts.getAccount(this.did, { includeDeactivated: true, includeTakenDown: true })
    if (!account) return null
    const profile = this.getProfileRecord()
    const avatar = cidOfBlob(profile?.avatar)
    const out: Json = { did: this.did, handle: account.handle ?? INVALID_HANDLE }
    if (typeof profile?.displayName === 'string') out.displayName = profile.displayName
    if (avatar) out.avatar = this.imageUrl('avatar', avatar)
    return out
  }

  /** Inserts posts newer than the feed's last item at their place by indexedAt (newest first). */
  async formatAndInsertPostsInFeed(feed: Json[], posts: LocalRecord[]): Promise<Json[]> {
    if (posts.length === 0) return feed
    const lastTime = ((feed.at(-1)?.post as Json | undefined)?.indexedAt as string | undefined) ?? new Date(0).toISOString()
    const newestToOldest = posts.filter((p) => p.indexedAt > lastTime).reverse()
    const formatted = (await Promise.all(newestToOldest.map((p) => this.getPost(p)))).filter((p): p is Json => p !== null)
    for (const post of formatted) {
      const idx = feed.findIndex((item) => ((item.post as Json).indexedAt as string) < (post.indexedAt as string))
      if (idx >= 0) feed.splice(idx, 0, { post })
      else feed.push({ post })
    }
    return feed
  }

  async getPost(local: LocalRecord): Promise<Json | null> {
    const author = this.getProfileBasic()
    if (!author) return null
    const embed = local.record.embed ? await this.formatPostEmbed(local.record.embed) : undefined
    const view: Json = {
      uri: local.uri,
      cid: local.cid,
      // Counts are presumed 0 right after the post was created.
      likeCount: 0,
      replyCount: 0,
      repostCount: 0,
      quoteCount: 0,
      author,
      record: local.record,
      indexedAt: local.indexedAt,
    }
    if (embed) view.embed = embed
    return view
  }

  async formatPostEmbed(embed: unknown): Promise<Json | undefined> {
    if (isType(embed, 'app.bsky.embed.images')) return this.formatImageEmbed(embed)
    if (isType(embed, 'app.bsky.embed.external')) return this.formatExternalEmbed(embed)
    if (isType(embed, 'app.bsky.embed.record')) return this.formatRecordEmbed(embed)
    if (isType(embed, 'app.bsky.embed.recordWithMedia')) return this.formatRecordWithMediaEmbed(embed)
    return undefined
  }

  formatImageEmbed(embed: Json): Json {
    const images = ((embed.images as Json[] | undefined) ?? []).map((img) => {
      const cid = cidOfBlob(img.image) ?? ''
      const out: Json = { thumb: this.imageUrl('feed_thumbnail', cid), fullsize: this.imageUrl('feed_fullsize', cid), alt: img.alt ?? '' }
      if (img.aspectRatio) out.aspectRatio = img.aspectRatio
      return out
    })
    return { $type: 'app.bsky.embed.images#view', images }
  }

  formatExternalEmbed(embed: Json): Json {
    const ext = (embed.external ?? {}) as Json
    const external: Json = { uri: ext.uri, title: ext.title, description: ext.description }
    const thumb = cidOfBlob(ext.thumb)
    if (thumb) external.thumb = this.imageUrl('feed_thumbnail', thumb)
    return { $type: 'app.bsky.embed.external#view', external }
  }

  async formatRecordEmbed(embed: Json): Promise<Json> {
    const ref = (embed.record ?? {}) as Json
    const uri = typeof ref.uri === 'string' ? ref.uri : ''
    let view: Json | undefined
    try {
      view = await this.formatRecordEmbedInternal(uri)
    } catch {
      view = undefined
    }
    return {
      $type: 'app.bsky.embed.record#view',
      record: view ?? { $type: 'app.bsky.embed.record#viewNotFound', uri, notFound: true },
    }
  }

  /** Asks the AppView for the embedded post / feed generator / list. */
  async formatRecordEmbedInternal(uri: string): Promise<Json | undefined> {
    const collection = uri.split('/')[3]
    if (collection === POST) {
      const data = await this.callAppView('app.bsky.feed.getPosts', { uris: uri })
      const post = (data?.posts as Json[] | undefined)?.[0]
      if (!post) return undefined
      const view: Json = {
        $type: 'app.bsky.embed.record#viewRecord',
        uri: post.uri,
        cid: post.cid,
        author: post.author,
        value: post.record,
        indexedAt: post.indexedAt,
      }
      if (post.labels) view.labels = post.labels
      if (post.embed) view.embeds = [post.embed]
      return view
    }
    if (collection === 'app.bsky.feed.generator') {
      const data = await this.callAppView('app.bsky.feed.getFeedGenerator', { feed: uri })
      return data?.view ? { $type: 'app.bsky.feed.defs#generatorView', ...(data.view as Json) } : undefined
    }
    if (collection === 'app.bsky.graph.list') {
      const data = await this.callAppView('app.bsky.graph.getList', { list: uri })
      return data?.list ? { $type: 'app.bsky.graph.defs#listView', ...(data.list as Json) } : undefined
    }
    return undefined
  }

  async formatRecordWithMediaEmbed(embed: Json): Promise<Json | undefined> {
    const mediaIn = embed.media
    const media = isType(mediaIn, 'app.bsky.embed.images')
      ? this.formatImageEmbed(mediaIn)
      : isType(mediaIn, 'app.bsky.embed.external')
        ? this.formatExternalEmbed(mediaIn)
        : null
    if (!media) return undefined
    const record = await this.formatRecordEmbed((embed.record ?? {}) as Json)
    return { $type: 'app.bsky.embed.recordWithMedia#view', record, media }
  }

  updateProfileViewBasic(view: Json, record: Json): Json {
    const avatar = cidOfBlob(record.avatar)
    const out: Json = { ...view, displayName: record.displayName, avatar: avatar ? this.imageUrl('avatar', avatar) : undefined }
    return dropUndefined(out)
  }

  updateProfileView(view: Json, record: Json): Json {
    return dropUndefined({ ...this.updateProfileViewBasic(view, record), description: record.description })
  }

  updateProfileDetailed(view: Json, record: Json): Json {
    const banner = cidOfBlob(record.banner)
    return dropUndefined({ ...this.updateProfileView(view, record), banner: banner ? this.imageUrl('banner', banner) : undefined })
  }

  /** A GET to the configured AppView as this account; null when there is none. */
  callAppView(lxm: string, params: Record<string, string | number | undefined>): Promise<Json | null> {
    return appViewQuery(this.s, lxm, params, { iss: this.did })
  }
}

function dropUndefined(obj: Json): Json {
  for (const key of Object.keys(obj)) if (obj[key] === undefined) delete obj[key]
  return obj
}
