// GET /account/repo.car?did=…: the signed-in account's own repository as a CAR download, what
// com.atproto.sync.getRepo gives its owner (a deactivated account's too), streamed from a
// snapshot with backpressure.
import type { RouteContext } from '../../xrpc/server.ts'
import { repoBlocks } from '../../repo/export.ts'
import { writeCarToStream } from '../../repo/car/index.ts'
import { deviceSessions, guard, type PagesContext } from './context.ts'
import { FormError } from './forms.ts'
import { setSecurityHeaders } from './html.ts'

export function accountExportGet(ctx: PagesContext) {
  return ({ req, res, ip, searchParams }: RouteContext) =>
    guard(ctx, res, req, async () => {
      // A download link on our page; another site may not start it in this browser.
      const site = req.headers['sec-fetch-site']
      if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') throw new FormError(403, 'This download must be started from this site.')
      const { deviceId } = ctx.devices.load(req, res, ip)
      const did = searchParams.get('did') ?? ''
      if (!deviceSessions(ctx, deviceId).some((x) => x.did === did && !x.loginRequired)) {
        throw new FormError(403, 'Sign in to this account on this device first.')
      }
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
        await writeCarToStream(res, head.cid, repoBlocks(snapshot, head.cid))
      } finally {
        snapshot.close()
      }
    })
}
