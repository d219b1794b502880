// OAuth request bodies are capped: PAR, token and revocation take at most 100 KiB (counted
// after any content-encoding is undone) and answer a bigger body with 413, as the official
// does; the sign-in and account forms take at most 16 KiB, also with 413.
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

const LIMIT = 100 * 1024

let pds: TestPds

before(async () => {
  pds = await startTestPds()
})

after(async () => {
  await pds?.close()
})

function form(size: number): string {
  const head = 'client_id=https%3A%2F%2Fclient.example%2Fmetadata.json&padding='
  return head + 'x'.repeat(Math.max(0, size - head.length))
}

async function post(path: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, pds.url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  })
  const text = await res.text()
  let json: unknown = null
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, json }
}

for (const path of ['/oauth/par', '/oauth/token', '/oauth/revoke']) {
  test(`${path}: a body over 100 KiB is 413, counted after decompression; one under it is read`, async () => {
    const over = await post(path, form(LIMIT + 1))
    assert.equal(over.status, 413, JSON.stringify(over.json))
    assert.equal(over.json.error, 'invalid_request')
    assert.match(over.json.error_description, /100 KiB|102400/)

    // 2 KiB on the wire, 200 KiB once inflated.
    const bomb = gzipSync(Buffer.from(form(2 * LIMIT)))
    assert.ok(bomb.length < 4096)
    const inflated = await post(path, bomb, { 'content-encoding': 'gzip' })
    assert.equal(inflated.status, 413, JSON.stringify(inflated.json))

    const under = await post(path, form(LIMIT - 100))
    assert.notEqual(under.status, 413)
    assert.ok(under.status >= 400 && under.status < 500, `status ${under.status}`)
  })
}

test('the OAuth forms (sign-in, account page) refuse a body over 16 KiB with 413', async () => {
  for (const path of ['/oauth/authorize', '/account']) {
    const res = await post(path, form(16 * 1024 + 1), { origin: pds.url })
    assert.equal(res.status, 413, `${path}: ${String(res.status)}`)
  }
})

test('the server is healthy afterwards', async () => {
  const res = await fetch(new URL('/xrpc/_health', pds.url))
  assert.equal(res.status, 200)
})

// A client that streams a large body in chunks (no Content-Length) is still sending when the
// limit is crossed: the answer must wait for the rest (drained, bounded) so the client reads a
// 413, not a broken pipe. (The fuzzer found an EPIPE on /oauth/revoke this way.)
async function postChunked(path: string, total: number, chunk: number): Promise<{ status: number; text: string; writeError: string | null }> {
  const { request } = await import('node:http')
  const url = new URL(path, pds.url)
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: pds.url } })
    // A write error (EPIPE, ECONNRESET) means the server stopped reading before the body ended.
    let writeError: string | null = null
    let answer: { status: number; text: string } | null = null
    const settle = () => {
      if (answer && (req.writableFinished || writeError)) resolve({ ...answer, writeError })
    }
    req.on('error', (err: NodeJS.ErrnoException) => {
      writeError = err.code ?? err.message
      if (!answer) reject(err)
      else settle()
    })
    req.on('finish', settle)
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => {
        answer = { status: res.statusCode ?? 0, text }
        settle()
      })
      res.on('error', reject)
    })
    const piece = Buffer.from(form(chunk))
    let sent = 0
    const next = () => {
      if (writeError) return
      if (sent >= total) {
        req.end()
        return
      }
      sent += piece.length
      // Slower than the server reads, as a client on a real network is.
      if (req.write(piece)) setTimeout(next, 2)
      else req.once('drain', () => setTimeout(next, 2))
    }
    next()
  })
}

for (const path of ['/oauth/revoke', '/oauth/par', '/oauth/token', '/oauth/authorize', '/account']) {
  test(`${path}: a chunked body streamed past the limit gets its 413, not a broken pipe`, async () => {
    const res = await postChunked(path, 2 * 1024 * 1024, 64 * 1024)
    assert.equal(res.status, 413, res.text)
    assert.equal(res.writeError, null, 'the server stopped reading the body before it ended')
  })
}
