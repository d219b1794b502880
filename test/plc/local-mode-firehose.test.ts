// Local mode with the network's own libraries: a firehose consumer built from @atproto/sync's
// Firehose and a standard @atproto/identity IdResolver, pointed at the did:plc directory URL a
// local-mode Hearth announces, must verify every event (it resolves each DID's signing key from
// that directory). @atproto/identity resolves `new URL('/' + did, plcUrl)`, which drops any path
// of the directory URL, so the directory has to answer at the root of the URL it gives out.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { IdResolver } from '@atproto/identity'
import { Firehose, type Event as SyncEvent } from '@atproto/sync'
import { loadConfig } from '../../src/config/index.ts'
import { type Hearth, startServer } from '../../src/server.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'hearth-local-firehose-'))
let hearth: Hearth | undefined
let firehose: Firehose | undefined
after(async () => {
  await firehose?.destroy()
  await hearth?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

test('a standard IdResolver resolves local-mode DIDs and @atproto/sync verifies every firehose event', async () => {
  // Local mode: no PDS_DID_PLC_URL, no secrets; Hearth hosts its own did:plc directory.
  const config = loadConfig({ PDS_PORT: '0', PDS_DATA_DIRECTORY: dataDir, PDS_INVITE_REQUIRED: 'false' }, { dotenv: false })
  assert.equal(config.identity.localPlc, true)
  hearth = await startServer(config)
  const plcUrl = hearth.config.identity.plcUrl

  const events: SyncEvent[] = []
  const errors: Error[] = []
  firehose = new Firehose({
    service: hearth.url.replace(/^http/, 'ws'),
    idResolver: new IdResolver({ plcUrl }),
    // .test handles do not resolve through DNS; the DIDs and signatures are what is checked.
    unauthenticatedHandles: true,
    handleEvent: (evt) => {
      events.push(evt)
    },
    onError: (err) => {
      errors.push(err)
    },
  })
  void firehose.start()
  await waitFor(() => hearth!.services.firehose.subscriberCount === 1, 5000, 'the Firehose client to connect')

  const dids: string[] = []
  for (const name of ['alice', 'bob']) {
    const agent = new AtpAgent({ service: hearth.url })
    await agent.createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: `pw-${name}-secret` })
    const did = agent.session!.did
    dids.push(did)
    for (let i = 0; i < 3; i++) {
      await agent.com.atproto.repo.createRecord({
        repo: did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: new Date().toISOString() },
      })
    }
  }

  const resolver = new IdResolver({ plcUrl })
  for (const did of dids) {
    const doc = await resolver.did.resolve(did)
    assert.ok(doc, `${did} did not resolve through ${plcUrl}`)
    assert.equal(doc.id, did)
    assert.ok(await resolver.did.resolveAtprotoKey(did), `no signing key for ${did}`)
  }

  const lastSeq = hearth.services.sequencer.lastSeq()
  assert.ok(lastSeq !== null && lastSeq >= 8, `expected events, got seq ${lastSeq}`)
  await waitFor(() => events.some((e) => e.seq === lastSeq) || errors.length > 0, 10_000, 'the Firehose client to verify the log')
  assert.deepEqual(errors.map((e) => `${e.message}: ${String((e as { cause?: unknown }).cause ?? '')}`), [])
  assert.equal(events.filter((e) => e.event === 'create').length, 6)
  assert.ok(events.length >= 8, `expected every event, got ${events.length}`)
})
