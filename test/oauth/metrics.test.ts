// The OAuth side of the official metric names: an approved authorization counts in
// oauth_authorization_total{clientFirstParty="false"} (the official 0.5.35's one label: Hearth has
// no first-party clients), and the code exchange in session_created_total{source="oauth"}.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { oauthAuthorization, sessionCreated } from '../../src/metrics/index.ts'
import type { OAuthProvider } from '../../src/oauth/provider.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { codeFrom, loopbackClientId, makeDpopKey, TestOAuthClient } from './helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(() => pds.close())

async function count(metric: typeof oauthAuthorization | typeof sessionCreated, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get()
  return values.filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want)).reduce((sum, v) => sum + v.value, 0)
}

test('an approved authorization and its code exchange are counted', async () => {
  const provider = pds.hearth.services.oauth as OAuthProvider
  const { did } = await pds.createAccount('oauthmetrics')
  const scope = 'atproto transition:generic'
  const client = new TestOAuthClient(pds.url, loopbackClientId(scope), await makeDpopKey())
  const authorizations = await count(oauthAuthorization, { clientFirstParty: 'false' })
  const sessions = await count(sessionCreated, { source: 'oauth' })
  const { res, verifier } = await client.par(scope)
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const redirect = await provider.acceptAuthorization(res.body.request_uri as string, did, 'dev-test')
  assert.equal((await count(oauthAuthorization, { clientFirstParty: 'false' })) - authorizations, 1)
  const token = await client.exchange(codeFrom(redirect), verifier)
  assert.equal(token.status, 200, JSON.stringify(token.body))
  assert.equal((await count(sessionCreated, { source: 'oauth' })) - sessions, 1)
  // A refresh continues the session: not a new one.
  const refreshed = await client.refresh((token.body as { refresh_token: string }).refresh_token)
  assert.equal(refreshed.status, 200)
  assert.equal((await count(sessionCreated, { source: 'oauth' })) - sessions, 1)
})
