// com.atproto.admin.* end to end through the official client: account info, takedowns of an
// account / a record / a blob and what each hides, the admin updates, invites, sendEmail and
// the auth every method demands.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { createServiceJwt } from '../../../src/auth/jwt.ts'
import { decodeCbor } from '../../../src/repo/cbor.ts'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { clientFailure } from '../../helpers/xrpc-error.ts'

let pds: TestPds
let admin: AtpAgent
const COL = 'com.example.thing'

type Account = Awaited<ReturnType<TestPds['createAccount']>>

function basic(password: string): string {
  return `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`
}

function adminAgent(password: string): AtpAgent {
  const agent = new AtpAgent({ service: pds.url })
  agent.setHeader('authorization', basic(password))
  return agent
}


function lastAccountEvent(did: string): { did: string; active: boolean; status?: string } {
  const row = pds.hearth.services.sequencer.lastOfType(did, 'account')
  assert.ok(row, 'an #account event was sequenced')
  return decodeCbor(row.event) as { did: string; active: boolean; status?: string }
}

before(async () => {
  pds = await startTestPds()
  admin = adminAgent(pds.adminPassword)
})

after(async () => {
  await pds?.close()
})

describe('auth', () => {
  test('a wrong admin password, no credentials and a user token are all refused', async () => {
    const alice = await pds.createAccount('authcheck')
    const wrong = await clientFailure(adminAgent('not-the-password').com.atproto.admin.getAccountInfo({ did: alice.did }))
    assert.equal(wrong.status, 401)
    assert.equal(wrong.error, 'AuthenticationRequired')
    const none = await clientFailure(pds.agent().com.atproto.admin.getAccountInfo({ did: alice.did }))
    assert.deepEqual([none.status, none.error], [401, 'AuthenticationRequired'])
    // A user's own access token: the moderator methods take Bearer only from the mod service.
    const asUser = await clientFailure(alice.agent.com.atproto.admin.getAccountInfo({ did: alice.did }))
    assert.deepEqual([asUser.status, asUser.error], [401, 'UntrustedIss'])
    // Admin-only methods refuse it too, and nothing changed.
    const reset = await clientFailure(alice.agent.com.atproto.admin.updateAccountPassword({ did: alice.did, password: 'hijacked-pw' }))
    assert.deepEqual([reset.status, reset.error], [401, 'AuthenticationRequired'])
    const takedown = await clientFailure(
      alice.agent.com.atproto.admin.updateSubjectStatus({
        subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did },
        takedown: { applied: true },
      }),
    )
    assert.equal(takedown.status, 401)
    assert.equal(pds.hearth.services.accounts.getAccountStatus(alice.did), 'active')
    await pds.agent().login({ identifier: alice.handle, password: alice.password })
  })

  test('the moderation service (PDS_MOD_SERVICE_DID) may use the moderator methods with service auth, not the admin-only ones', async () => {
    // The "mod service" is an account on the first server, so its DID resolves on the shared PLC.
    const mod = await pds.createAccount('modsvc')
    const modKey = pds.hearth.services.actors.get(mod.did)!.keypair()
    const second = await startTestPds({ env: { PDS_DID_PLC_URL: pds.plcUrl, PDS_MOD_SERVICE_DID: mod.did, PDS_MOD_SERVICE_URL: 'https://mod.example.com' } })
    try {
      const target = await second.createAccount('modded')
      const aud = second.hearth.services.config.service.did
      const asMod = (lxm: string) => {
        const agent = new AtpAgent({ service: second.url })
        agent.setHeader('authorization', `Bearer ${createServiceJwt({ iss: mod.did, aud, lxm, keypair: modKey })}`)
        return agent
      }
      const info = await asMod('com.atproto.admin.getAccountInfo').com.atproto.admin.getAccountInfo({ did: target.did })
      assert.equal(info.data.handle, target.handle)
      await asMod('com.atproto.admin.updateSubjectStatus').com.atproto.admin.updateSubjectStatus({
        subject: { $type: 'com.atproto.admin.defs#repoRef', did: target.did },
        takedown: { applied: true },
      })
      assert.equal(second.hearth.services.accounts.getAccountStatus(target.did), 'takendown')
      // A token for one method does not open another.
      const wrongLxm = await clientFailure(asMod('com.atproto.admin.getAccountInfo').com.atproto.admin.getAccountInfos({ dids: [target.did] }))
      assert.equal(wrongLxm.status, 401)
      const adminOnly = await clientFailure(
        asMod('com.atproto.admin.updateAccountPassword').com.atproto.admin.updateAccountPassword({ did: target.did, password: 'by-the-mod' }),
      )
      assert.deepEqual([adminOnly.status, adminOnly.error], [401, 'AuthenticationRequired'])
      // Another account's key is not the mod service's.
      const impostor = new AtpAgent({ service: second.url })
      impostor.setHeader(
        'authorization',
        `Bearer ${createServiceJwt({ iss: target.did, aud, lxm: 'com.atproto.admin.getAccountInfo', keypair: second.hearth.services.actors.get(target.did)!.keypair() })}`,
      )
      const refused = await clientFailure(impostor.com.atproto.admin.getAccountInfo({ did: target.did }))
      assert.deepEqual([refused.status, refused.error], [401, 'UntrustedIss'])
    } finally {
      await second.close()
    }
  })
})

describe('account info', () => {
  test('getAccountInfo and getAccountInfos show the AccountView; an unknown DID is NotFound or left out', async () => {
    const alice = await pds.createAccount('info')
    const { data } = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
    assert.equal(data.did, alice.did)
    assert.equal(data.handle, alice.handle)
    assert.equal(data.email, `${alice.handle}@example.com`)
    assert.equal(data.invitesDisabled, false)
    assert.deepEqual(data.invites, [])
    assert.ok(!Number.isNaN(Date.parse(data.indexedAt)))
    const missing = await clientFailure(admin.com.atproto.admin.getAccountInfo({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }))
    assert.deepEqual([missing.status, missing.error], [400, 'NotFound'])
    const bob = await pds.createAccount('info')
    const many = await admin.com.atproto.admin.getAccountInfos({ dids: [alice.did, bob.did, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'] })
    assert.deepEqual(many.data.infos.map((i) => i.did).sort(), [alice.did, bob.did].sort())
  })
})

describe('account takedown', () => {
  let alice: Account
  before(async () => {
    alice = await pds.createAccount('takedown')
  })

  test('takedown: sessions end, login is refused, sync says RepoTakendown, #account takendown', async () => {
    const res = await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did },
      takedown: { applied: true, ref: 'case-17' },
    })
    assert.equal(res.data.takedown?.applied, true)
    const login = await clientFailure(pds.agent().login({ identifier: alice.handle, password: alice.password }))
    assert.deepEqual([login.status, login.error], [401, 'AccountTakedown'])
    const refresh = await clientFailure(alice.agent.com.atproto.server.refreshSession(undefined, {
      headers: { authorization: `Bearer ${alice.agent.session?.refreshJwt}` },
    }))
    assert.ok(refresh.status === 400 || refresh.status === 401, `refresh refused (${refresh.status} ${refresh.error})`)
    const sync = await clientFailure(pds.agent().com.atproto.sync.getLatestCommit({ did: alice.did }))
    assert.deepEqual([sync.status, sync.error], [400, 'RepoTakendown'])
    assert.deepEqual(lastAccountEvent(alice.did), { did: alice.did, active: false, status: 'takendown' })
    const status = await admin.com.atproto.admin.getSubjectStatus({ did: alice.did })
    assert.deepEqual(status.data.takedown, { applied: true, ref: 'case-17' })
    assert.deepEqual(status.data.deactivated, { applied: false })
    // The admin can still read the repo, as official.
    const asAdmin = await admin.com.atproto.sync.getLatestCommit({ did: alice.did })
    assert.ok(asAdmin.data.cid)
  })

  test('untakedown: login works again and #account is active', async () => {
    await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did },
      takedown: { applied: false },
    })
    await pds.agent().login({ identifier: alice.handle, password: alice.password })
    assert.deepEqual(lastAccountEvent(alice.did), { did: alice.did, active: true })
    const sync = await pds.agent().com.atproto.sync.getLatestCommit({ did: alice.did })
    assert.ok(sync.data.cid)
    const status = await admin.com.atproto.admin.getSubjectStatus({ did: alice.did })
    assert.deepEqual(status.data.takedown, { applied: false })
  })

  test('deactivated applied/unapplied through updateSubjectStatus', async () => {
    await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did },
      deactivated: { applied: true },
    })
    assert.deepEqual(lastAccountEvent(alice.did), { did: alice.did, active: false, status: 'deactivated' })
    const info = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
    assert.ok(info.data.deactivatedAt)
    await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did },
      deactivated: { applied: false },
    })
    assert.deepEqual(lastAccountEvent(alice.did), { did: alice.did, active: true })
  })
})

describe('record and blob takedown', () => {
  test('a taken-down record is hidden from getRecord and listRecords, and comes back', async () => {
    const alice = await pds.createAccount('rec')
    const kept = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: COL, record: { $type: COL, n: 1 } })
    const hidden = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: COL, record: { $type: COL, n: 2 } })
    const rkey = hidden.data.uri.split('/').pop() as string
    await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.repo.strongRef', uri: hidden.data.uri, cid: hidden.data.cid },
      takedown: { applied: true },
    })
    const get = await clientFailure(pds.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: COL, rkey }))
    assert.deepEqual([get.status, get.error], [400, 'RecordNotFound'])
    const list = await pds.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: COL })
    assert.deepEqual(list.data.records.map((r) => r.uri), [kept.data.uri])
    const status = await admin.com.atproto.admin.getSubjectStatus({ uri: hidden.data.uri })
    assert.equal(status.data.takedown?.applied, true)
    assert.deepEqual(status.data.subject, { $type: 'com.atproto.repo.strongRef', uri: hidden.data.uri, cid: hidden.data.cid })
    await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.repo.strongRef', uri: hidden.data.uri, cid: hidden.data.cid },
      takedown: { applied: false },
    })
    const back = await pds.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: COL, rkey })
    assert.equal(back.data.cid, hidden.data.cid)
    const unknown = await clientFailure(admin.com.atproto.admin.getSubjectStatus({ uri: `at://${alice.did}/${COL}/nosuchrecord` }))
    assert.deepEqual([unknown.status, unknown.error], [400, 'NotFound'])
  })

  test('a taken-down blob is quarantined and getBlob refuses it; untakedown restores it', async () => {
    const alice = await pds.createAccount('blob')
    const bytes = new TextEncoder().encode('a blob for moderation tests')
    const up = await alice.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'text/plain' })
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: COL, record: { $type: COL, file: up.data.blob } })
    const cid = up.data.blob.ref.toString()
    const getBlob = async () => {
      const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${cid}`)
      return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()) }
    }
    assert.deepEqual(await getBlob(), { status: 200, bytes })
    await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.admin.defs#repoBlobRef', did: alice.did, cid },
      takedown: { applied: true },
    })
    const refused = await clientFailure(pds.agent().com.atproto.sync.getBlob({ did: alice.did, cid }))
    assert.deepEqual([refused.status, refused.message], [400, 'Blob not found'])
    assert.ok(await pds.hearth.services.blobs.isQuarantined(alice.did, cid), 'the file is in quarantine')
    const status = await admin.com.atproto.admin.getSubjectStatus({ did: alice.did, blob: cid })
    assert.equal(status.data.takedown?.applied, true)
    // listBlobs still lists it, as official.
    const listed = await pds.agent().com.atproto.sync.listBlobs({ did: alice.did })
    assert.deepEqual(listed.data.cids, [cid])
    const reupload = await clientFailure(alice.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'text/plain' }))
    assert.equal(reupload.status, 400)
    await admin.com.atproto.admin.updateSubjectStatus({
      subject: { $type: 'com.atproto.admin.defs#repoBlobRef', did: alice.did, cid },
      takedown: { applied: false },
    })
    assert.deepEqual(await getBlob(), { status: 200, bytes })
    const noDid = await clientFailure(admin.com.atproto.admin.getSubjectStatus({ blob: cid }))
    assert.equal(noDid.status, 400)
  })
})

describe('admin updates', () => {
  test('updateAccountPassword ends sessions and the new password logs in', async () => {
    const alice = await pds.createAccount('pw')
    await admin.com.atproto.admin.updateAccountPassword({ did: alice.did, password: 'brand-new-password' })
    const refresh = await clientFailure(alice.agent.com.atproto.server.refreshSession(undefined, {
      headers: { authorization: `Bearer ${alice.agent.session?.refreshJwt}` },
    }))
    assert.equal(refresh.status, 400)
    const old = await clientFailure(pds.agent().login({ identifier: alice.handle, password: alice.password }))
    assert.equal(old.status, 401)
    await pds.agent().login({ identifier: alice.handle, password: 'brand-new-password' })
    const tooLong = await clientFailure(admin.com.atproto.admin.updateAccountPassword({ did: alice.did, password: 'x'.repeat(257) }))
    assert.deepEqual([tooLong.status, tooLong.message], [400, 'Invalid password length.'])
  })

  test('updateAccountEmail and updateAccountHandle', async () => {
    const alice = await pds.createAccount('upd')
    await admin.com.atproto.admin.updateAccountEmail({ account: alice.handle, email: 'New@Example.com' })
    const info = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
    assert.equal(info.data.email, 'new@example.com')
    const missing = await clientFailure(admin.com.atproto.admin.updateAccountEmail({ account: 'nobody.test', email: 'x@example.com' }))
    assert.equal(missing.status, 400)
    const handle = `renamed${Date.now() % 100000}.test`
    await admin.com.atproto.admin.updateAccountHandle({ did: alice.did, handle })
    const renamed = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
    assert.equal(renamed.data.handle, handle)
    const doc = await pds.hearth.services.plc.getDocumentData(alice.did)
    assert.deepEqual(doc.alsoKnownAs, [`at://${handle}`])
    const identity = pds.hearth.services.sequencer.lastOfType(alice.did, 'identity')
    assert.deepEqual(decodeCbor(identity!.event), { did: alice.did, handle })
    const bob = await pds.createAccount('upd')
    const taken = await clientFailure(admin.com.atproto.admin.updateAccountHandle({ did: bob.did, handle }))
    assert.deepEqual([taken.status, taken.message], [400, `Handle already taken: ${handle}`])
    // The operator may hand out names users may not take; the length rules still hold.
    await admin.com.atproto.admin.updateAccountHandle({ did: bob.did, handle: 'support.test' })
    assert.equal((await admin.com.atproto.admin.getAccountInfo({ did: bob.did })).data.handle, 'support.test')
    const short = await clientFailure(admin.com.atproto.admin.updateAccountHandle({ did: bob.did, handle: 'ab.test' }))
    assert.deepEqual([short.status, short.error], [400, 'InvalidHandle'])
  })

  test('deleteAccount removes the account and its repo', async () => {
    const alice = await pds.createAccount('del')
    await admin.com.atproto.admin.deleteAccount({ did: alice.did })
    const gone = await clientFailure(admin.com.atproto.admin.getAccountInfo({ did: alice.did }))
    assert.equal(gone.error, 'NotFound')
    assert.equal(pds.hearth.services.actors.exists(alice.did), false)
    assert.deepEqual(lastAccountEvent(alice.did), { did: alice.did, active: false, status: 'deleted' })
  })
})

describe('invites and email', () => {
  test('getInviteCodes, disableInviteCodes, enable/disableAccountInvites', async () => {
    const alice = await pds.createAccount('inv')
    const { data } = await admin.com.atproto.server.createInviteCode({ useCount: 2, forAccount: alice.did })
    const listed = await admin.com.atproto.admin.getInviteCodes({ sort: 'recent', limit: 500 })
    const code = listed.data.codes.find((c) => c.code === data.code)
    assert.ok(code)
    assert.equal(code.forAccount, alice.did)
    assert.equal(code.disabled, false)
    const byUsage = await admin.com.atproto.admin.getInviteCodes({ sort: 'usage' })
    assert.ok(byUsage.data.codes.length >= 1)
    const badSort = await clientFailure(admin.com.atproto.admin.getInviteCodes({ sort: 'oldest' }))
    assert.deepEqual([badSort.status, badSort.message], [400, 'unknown sort method: oldest'])
    await admin.com.atproto.admin.disableInviteCodes({ codes: [data.code] })
    const after = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
    assert.equal(after.data.invites?.find((c) => c.code === data.code)?.disabled, true)
    const adminCodes = await clientFailure(admin.com.atproto.admin.disableInviteCodes({ accounts: ['admin'] }))
    assert.deepEqual([adminCodes.status, adminCodes.message], [400, 'cannot disable admin invite codes'])
    await admin.com.atproto.admin.disableAccountInvites({ account: alice.did })
    assert.equal((await admin.com.atproto.admin.getAccountInfo({ did: alice.did })).data.invitesDisabled, true)
    await admin.com.atproto.admin.enableAccountInvites({ account: alice.did })
    assert.equal((await admin.com.atproto.admin.getAccountInfo({ did: alice.did })).data.invitesDisabled, false)
  })

  test('sendEmail goes through the moderation mailer; an unknown recipient is refused', async () => {
    const alice = await pds.createAccount('mail')
    const sent = await admin.com.atproto.admin.sendEmail({
      recipientDid: alice.did,
      senderDid: 'did:example:moderator',
      content: '<p>Hello from your PDS</p>',
    })
    assert.equal(sent.data.sent, true)
    const unknown = await clientFailure(
      admin.com.atproto.admin.sendEmail({ recipientDid: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', senderDid: 'did:example:m', content: 'x' }),
    )
    assert.deepEqual([unknown.status, unknown.message], [400, 'Recipient not found'])
  })
})
