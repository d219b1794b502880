// GET /account/repo.car?did=…: the signed-in account's own repository as a CAR download, what
// com.atproto.sync.getRepo gives its owner (a deactivated account's too), streamed from a
// snapshot with backpressure.
import type { RouteContext } from '../../xrpc/server.ts'
import { writeCarToStream } from '../../repo/car/index.ts'
import { downloadingAccount } from './account-blobs.ts'
import { guard, type PagesContext } from './context.ts'
import { FormError } from './forms.ts'
import { setSecurityHeaders } from './html.ts'

export function accountExportGet(ctx: PagesContext) {
  return (rc: RouteContext) =>
    guard(ctx, rc.res, rc.req, async () => {
      const did = downloadingAccount(ctx, rc)
      const res = rc.res
      if (!ctx.s.actors.exists(did)) throw new FormError(404, 'This account has no repository on this server.')
      const snapshot = ctx.s.actors.snapshot(did)
      try {
        const head = snapshot.head
        if (!head) throw new FormError(404, 'This account has no repository on this server.')
        const account = ctx.s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
        const name = (account?.handle ?? did).replace(/[^A-Za-z0-9._-]/g, '_')
        setSecurityHeaders(res)
        res.statusCode = 200
        res.setHeader('Content-Type', 'application/vnd.ipld.car')
        res.setHeader('Content-Disposition', `attachment; filename="${name}-${head.rev}.car"`)
        // The same blocks, in the same order, as getRepo: one scan of the block table. A client
        // that stops reading (a paused download) is cut off as getRepo's is: the snapshot it
        // holds keeps checkpoints from passing it, so the account's WAL would grow meanwhile.
        try {
          await writeCarToStream(res, head.cid, snapshot.allBlocks(), { stallMs: rc.stallMs })
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'ERR_STREAM_STALLED') throw err
          ctx.s.logger.info({ did, stallMs: rc.stallMs }, `closed a repository download: its client took nothing for ${rc.stallMs} ms`)
        }
      } finally {
        snapshot.close()
      }
    })
}
