// The SQL a running Hearth prepares binds no value that SQLite plans with (LIMIT_PARAM in
// src/storage/sqlite.ts): SQLite compiles such a statement again on every run. 3.53 (Node 20)
// does it for a bare `LIMIT ?`, 3.54 (Node 22+) also for an equality with a parameter in a
// statement that joins, or that orders and limits. A source scan (sqlite.test.ts) cannot see SQL
// composed from pieces (`${ACCOUNT_SELECT} WHERE …`), so this test records the text of every
// statement prepared while a server answers the common calls, and checks the text itself.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { bindsPlannedValue } from '../helpers/planned-values.ts'

const require = createRequire(import.meta.url)
// The build src/storage/sqlite.ts loads under this Node.
const Database = Number(process.versions.node.split('.')[0]) >= 22 ? require('better-sqlite3-napi') : require('better-sqlite3')
const prepared = new Set<string>()
const prepare = Database.prototype.prepare
let pds: TestPds

before(async () => {
  Database.prototype.prepare = function (this: unknown, sql: string) {
    prepared.add(sql)
    return prepare.call(this, sql)
  }
  pds = await startTestPds()
})

after(async () => {
  Database.prototype.prepare = prepare
  await pds?.close()
})

test('no statement prepared while answering the common calls binds a value SQLite plans with', async () => {
  const { agent, did, handle } = await pds.createAccount('planned')
  const other = await pds.createAccount('plannedother')
  await agent.com.atproto.server.getSession()
  await agent.sessionManager.refreshSession()
  const appPassword = await agent.com.atproto.server.createAppPassword({ name: 'planned-app' })
  const appAgent = pds.agent()
  await appAgent.login({ identifier: handle, password: appPassword.data.password })
  await appAgent.com.atproto.server.getSession()
  const post = await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'planned', createdAt: new Date().toISOString() },
  })
  for (const collection of ['app.bsky.graph.follow', 'app.bsky.graph.block']) {
    await agent.com.atproto.repo.createRecord({ repo: did, collection, record: { $type: collection, subject: other.did, createdAt: new Date().toISOString() } })
  }
  await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'app.bsky.feed.like',
    record: { $type: 'app.bsky.feed.like', subject: { uri: post.data.uri, cid: post.data.cid }, createdAt: new Date().toISOString() },
  })
  await agent.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: post.data.uri.split('/').pop() as string })
  await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 10 })
  await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 10, reverse: true })
  await agent.com.atproto.repo.describeRepo({ repo: did })
  await agent.com.atproto.sync.listRepos({ limit: 1 })
  await agent.com.atproto.sync.getLatestCommit({ did })
  await agent.com.atproto.sync.getRepoStatus({ did })
  await agent.com.atproto.sync.listBlobs({ did, limit: 10 })
  await agent.com.atproto.server.checkAccountStatus()
  await agent.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: post.data.uri.split('/').pop() as string })
  await agent.logout()

  const offenders = [...prepared].filter(bindsPlannedValue)
  assert.ok(prepared.size > 30, `statements recorded: ${prepared.size}`)
  assert.ok([...prepared].some((sql) => /\bJOIN\b/.test(sql)), 'the calls prepared statements that join')
  assert.deepEqual(offenders, [])
})
