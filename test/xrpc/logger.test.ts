import assert from 'node:assert/strict'
import { test } from 'node:test'
import { configureLogging, createLogger, loggingConfig, redact, subsystemLogger } from '../../src/logger.ts'

test('JSON lines with pino level numbers, levels filtered, bindings kept', () => {
  const lines: string[] = []
  const log = createLogger({ name: 'hearth:test', config: { level: 'info' }, sink: { write: (l) => lines.push(l) } })
  log.debug('hidden')
  log.info({ nsid: 'a.b.c' }, 'shown')
  log.child({ reqId: 7 }).warn('child')
  log.error(new Error('boom'))
  assert.equal(lines.length, 3)
  for (const l of lines) assert.ok(l.endsWith('\n'))
  const [a, b, c] = lines.map((l) => JSON.parse(l))
  assert.equal(a.level, 30)
  assert.equal(a.name, 'hearth:test')
  assert.equal(a.msg, 'shown')
  assert.equal(a.nsid, 'a.b.c')
  assert.equal(typeof a.time, 'number')
  assert.equal(b.level, 40)
  assert.equal(b.reqId, 7)
  assert.equal(c.level, 50)
  assert.equal(c.err.message, 'boom')
  assert.match(c.err.stack, /boom/)
  assert.equal(log.isLevelEnabled('debug'), false)
})

test('credentials never reach a line', () => {
  const lines: string[] = []
  const log = createLogger({ sink: { write: (l) => lines.push(l) } })
  log.info({
    req: { headers: { authorization: 'Bearer eyJsecret', cookie: 'sid=1', 'x-ratelimit-bypass': 'k', accept: 'x' } },
    password: 'hunter2',
    jwtSecret: 'jjj',
    refreshJwt: 'rrr',
    plcRotationKeyK256PrivateKeyHex: 'aaaa',
    accessToken: 'ttt',
    nested: [{ adminPassword: 'p' }],
  })
  const line = lines[0]
  for (const secret of ['eyJsecret', 'sid=1', 'hunter2', 'jjj', 'rrr', 'aaaa', 'ttt', '"p"']) assert.ok(!line.includes(secret), secret)
  const parsed = JSON.parse(line)
  assert.equal(parsed.req.headers.accept, 'x')
  assert.equal(parsed.req.headers.authorization, '[redacted]')
  // Cycles, bytes and bigints do not break it.
  const cyclic: Record<string, unknown> = { n: 1n, bytes: new Uint8Array(3) }
  cyclic.self = cyclic
  assert.deepEqual(redact(cyclic), { n: '1', bytes: '[3 bytes]', self: '[circular]' })
})

test('subsystem loggers follow configureLogging (LOG_ENABLED, LOG_LEVEL, LOG_SYSTEMS)', () => {
  const saved = loggingConfig()
  const lines: string[] = []
  try {
    configureLogging({ enabled: false, level: 'info', systems: [], destination: null }, { write: (l) => lines.push(l) })
    const log = subsystemLogger('hearth:one')
    log.error('off')
    assert.equal(lines.length, 0)
    configureLogging({ enabled: true, level: 'warn', systems: ['hearth:two'], destination: null }, { write: (l) => lines.push(l) })
    log.error('not my system')
    subsystemLogger('hearth:two').info('below level')
    subsystemLogger('hearth:two').warn('yes')
    assert.equal(lines.length, 1)
    assert.equal(JSON.parse(lines[0]).msg, 'yes')
  } finally {
    configureLogging(saved, { write: (l) => process.stderr.write(l) })
  }
})
