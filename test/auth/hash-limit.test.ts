// Password hashing must not starve the server. scrypt runs on libuv's thread pool, which Node
// shares with file-system work and DNS; a crowd of wrong-password logins used to fill it, and an
// unrelated user's upload then waited behind every queued hash. Hashes now run a few at a time,
// a very long queue is refused with 429, a login into an account without app passwords costs one
// hash instead of two, and the process entry points size the pool.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { platform } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { HashLimiter, passwordHashes } from '../../src/auth/hash-limit.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..')

let pds: TestPds
let victim: { handle: string; did: string }
let other: Awaited<ReturnType<TestPds['createAccount']>>
let blobCid: string

before(async () => {
  pds = await startTestPds()
  const v = await pds.createAccount('victim')
  victim = { handle: v.handle, did: v.did }
  other = await pds.createAccount('bystander')
  const up = await other.agent.uploadBlob(new Uint8Array(Buffer.from('an earlier upload')), { encoding: 'text/plain' })
  blobCid = up.data.blob.ref.toString()
  await other.agent.com.atproto.repo.createRecord({
    repo: other.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'with a blob', createdAt: new Date().toISOString(), embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] } },
  })
})
after(async () => {
  await pds?.close()
})

function wrongLogin(identifier: string): Promise<{ status: number; error?: string }> {
  return fetch(`${pds.url}/xrpc/com.atproto.server.createSession`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ identifier, password: 'not-the-password' }),
  }).then(async (res) => ({ status: res.status, error: ((await res.json()) as { error?: string }).error }))
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

describe('wrong-password logins', () => {
  test("64 concurrent wrong-password logins leave another user's upload and download fast", async () => {
    const attack = Array.from({ length: 64 }, () => wrongLogin(victim.handle))
    // Let every login reach the server and queue its hashing first.
    await new Promise((resolve) => setTimeout(resolve, 150))
    const upload = await timed(() => other.agent.uploadBlob(new Uint8Array(Buffer.from(`fresh bytes ${Date.now()}`)), { encoding: 'text/plain' }))
    const download = await timed(async () => {
      const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${other.did}&cid=${blobCid}`)
      assert.equal(res.status, 200)
      await res.arrayBuffer()
    })
    const results = await Promise.all(attack)
    assert.ok(upload < 1500, `uploadBlob took ${Math.round(upload)} ms under the login storm`)
    assert.ok(download < 1500, `getBlob took ${Math.round(download)} ms under the login storm`)
    for (const r of results) {
      assert.ok(r.status === 401 || r.status === 429, `a wrong login answered ${r.status} ${r.error}`)
      assert.equal(r.error, r.status === 401 ? 'AuthenticationRequired' : 'RateLimitExceeded')
    }
  })

  test('a queue far beyond what the server can hash soon is refused with 429 RateLimitExceeded, never a 5xx', async () => {
    const results = await Promise.all(Array.from({ length: 40 + passwordHashes.maxWaiting * 2 }, () => wrongLogin(victim.handle)))
    const limited = results.filter((r) => r.status === 429)
    assert.ok(limited.length > 0, 'some logins were refused for the queue')
    for (const r of limited) assert.equal(r.error, 'RateLimitExceeded')
    assert.ok(results.every((r) => r.status === 401 || r.status === 429), JSON.stringify(results.filter((r) => r.status !== 401 && r.status !== 429)))
    // The account still logs in once the crowd is gone.
    const ok = await fetch(`${pds.url}/xrpc/com.atproto.server.createSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ identifier: other.handle, password: other.password }),
    })
    assert.equal(ok.status, 200)
  })

  test('a wrong password costs one hash when the account has no app passwords, two when it has', async () => {
    const before1 = passwordHashes.hashed
    assert.equal((await wrongLogin(victim.handle)).status, 401)
    assert.equal(passwordHashes.hashed - before1, 1)

    const withApp = await pds.createAccount('apphaver')
    await withApp.agent.com.atproto.server.createAppPassword({ name: 'phone' })
    const before2 = passwordHashes.hashed
    assert.equal((await wrongLogin(withApp.handle)).status, 401)
    assert.equal(passwordHashes.hashed - before2, 2)
  })
})

describe('the thread pool', () => {
  // Counting threads needs /proc.
  const skip = platform() !== 'linux' ? 'counts threads through /proc (Linux only)' : false

  // Threads of a node process started the way npm start starts Hearth, after it used the pool.
  function threadsOf(args: string[], env: NodeJS.ProcessEnv): number {
    const probe = `import { scrypt } from 'node:crypto'; import { readdirSync } from 'node:fs';
      await Promise.all(Array.from({ length: 64 }, () => new Promise((r) => scrypt('a', 'b', 16, r))));
      process.stdout.write(String(readdirSync('/proc/self/task').length))`
    return Number(execFileSync(process.execPath, [...args, '--input-type=module', '-e', probe], { env, cwd: root }).toString())
  }

  test('npm start sizes the pool before anything uses it, unless the operator set UV_THREADPOOL_SIZE', { skip }, () => {
    const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
    const preload = /--require[= ](\S+)/.exec(start)?.[1]
    assert.ok(preload, `npm start preloads the pool setting: ${start}`)
    const env = { ...process.env }
    delete env.UV_THREADPOOL_SIZE
    const bare = threadsOf([], env)
    const sized = threadsOf(['--require', preload], env)
    assert.ok(sized >= bare + 4, `threads: ${bare} with node's default pool, ${sized} with the preload`)
    // The operator's own setting wins.
    const own = threadsOf(['--require', preload], { ...env, UV_THREADPOOL_SIZE: '5' })
    assert.equal(own, bare + 1)
  })
})

describe('hashing threads', () => {
  const skip = platform() === 'linux' ? false : 'counts threads in /proc'
  const threads = () => readdirSync('/proc/self/task').length

  test('an idle hashing thread ends (its heap and scrypt buffer with it), and the next hash starts a new one', { skip }, async () => {
    const limiter = new HashLimiter(1, 4, 100)
    const first = await limiter.scrypt('pw', 'salt', 16)
    assert.equal(limiter.threads, 1)
    const during = threads()
    const deadline = Date.now() + 5_000
    // Both, not either: another thread of this process (an earlier test's hashing thread, one of
    // V8's) may end meanwhile, and the count drop before this one's timer has fired.
    while ((threads() >= during || limiter.threads > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.ok(threads() < during, 'the idle thread ended')
    assert.equal(limiter.threads, 0)
    const again = await limiter.scrypt('pw', 'salt', 16)
    assert.deepEqual(again, first)
    assert.equal(limiter.hashed, 2)
  })
})
