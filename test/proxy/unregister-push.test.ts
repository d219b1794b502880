// app.bsky.notification.unregisterPush (official 0.5 line) reaches the notification service the
// client names, with a service token for it, as registerPush does; not the AppView, where the
// generic app.bsky proxying would send it.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { startTestService, type TestService } from './services.ts'

describe('unregisterPush', () => {
  let pds: TestPds
  let appView: TestService
  let notif: TestService

  before(async () => {
    appView = await startTestService({ services: [{ id: 'bsky_appview', type: 'BskyAppView' }] })
    notif = await startTestService({ services: [{ id: 'bsky_notif', type: 'BskyNotificationService' }] })
    pds = await startTestPds({ env: { PDS_BSKY_APP_VIEW_URL: appView.url, PDS_BSKY_APP_VIEW_DID: appView.did } })
    for (const svc of [appView, notif]) svc.setPlcUrl(pds.plcUrl)
    const ok = () => ({ body: {} })
    appView.setHandler(ok)
    notif.setHandler(ok)
  })
  after(async () => {
    await pds?.close()
    await Promise.all([appView?.close(), notif?.close()])
  })

  it('goes to the named service with a token for it; the AppView hears nothing', async () => {
    const kim = await pds.createAccount('unpush')
    const body = { serviceDid: notif.did, token: 'device-token', platform: 'web' as const, appId: 'xyz.blueskyweb.app' }
    await kim.agent.app.bsky.notification.registerPush(body)
    await kim.agent.app.bsky.notification.unregisterPush(body)
    assert.deepEqual(notif.calls.map((c) => c.nsid), ['app.bsky.notification.registerPush', 'app.bsky.notification.unregisterPush'])
    const call = notif.calls[1]!
    assert.deepEqual(call.jwt && [call.jwt.iss, call.jwt.aud, call.jwt.lxm], [kim.did, notif.did, 'app.bsky.notification.unregisterPush'])
    assert.equal(JSON.parse(call.body).token, 'device-token')
    assert.equal(appView.calls.filter((c) => c.nsid.startsWith('app.bsky.notification.')).length, 0)
  })
})
