// An upstream's answer that Hearth forwards as it is (not patched) is the upstream's, not
// Hearth's output: response validation (dev mode) must not turn it into a 500, as the official
// skips validation for pipe-through outputs. Found by the fuzzer (npm run fuzz).
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, before, test } from 'node:test'
import { listen, type Listening } from '../helpers/net.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let appView: Listening
let pds: TestPds
let answer: { type: string; body: string; rev?: string } = { type: 'text/html', body: '<html>hi</html>' }

before(async () => {
  appView = await listen(
    createServer((req, res) => {
      req.resume()
      const headers: Record<string, string> = { 'content-type': answer.type }
      if (answer.rev) headers['atproto-repo-rev'] = answer.rev
      res.writeHead(200, headers).end(answer.body)
    }),
  )
  // startTestPds runs in dev mode, where every output is validated against its lexicon.
  pds = await startTestPds({ env: { PDS_BSKY_APP_VIEW_URL: appView.url, PDS_BSKY_APP_VIEW_DID: 'did:web:appview.test' } })
})

after(async () => {
  await pds.close()
  await appView.close()
})

test('a non-JSON upstream answer to a read-after-write method is forwarded, not a 500', async () => {
  const { agent } = await pds.createAccount('pass')
  answer = { type: 'text/html', body: '<html>hi</html>' }
  const res = await fetch(`${pds.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${agent.session?.accessJwt}` } })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
  assert.equal(await res.text(), '<html>hi</html>')
})

test('upstream JSON that does not match the lexicon is forwarded as is when there is something to patch', async () => {
  const { agent, did } = await pds.createAccount('patch')
  // A local write newer than what the AppView says it has indexed: read-after-write reads the answer.
  const post = () => agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: { text: 'hi', createdAt: new Date().toISOString() } })
  const indexed = await post()
  await post()
  answer = { type: 'application/json', body: '{"feed":"not a list"}', rev: indexed.data.commit?.rev }
  const res = await fetch(`${pds.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${agent.session?.accessJwt}` } })
  assert.equal(res.status, 200)
  assert.equal(await res.text(), '{"feed":"not a list"}')
})
