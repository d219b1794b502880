// Event frames: `seq` and `time` are spliced into the stored body without re-encoding it; the
// bytes must be exactly those of decoding the body, setting both, and encoding it again.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { eventFrame, wsMessage } from '../../src/firehose/frames.ts'
import { BytesWrapper, decodeCbor, decodeCborFirst, encodeCbor } from '../../src/repo/cbor.ts'
import type { EventType } from '../../src/sequencer/events.ts'

const TIME = '2024-07-01T12:34:56.789Z'

function reference(eventType: EventType, event: Uint8Array, seq: number, time: string): Buffer {
  const t = { append: '#commit', sync: '#sync', identity: '#identity', account: '#account' }[eventType]
  const body = decodeCbor(event) as Record<string, unknown>
  body.seq = seq
  body.time = time
  return Buffer.concat([encodeCbor({ op: 1, t }), encodeCbor(body)])
}

const commit = {
  ops: [{ action: 'create', path: 'app.bsky.feed.post/3kabc', cid: null, prev: null }],
  rev: '3kabcdefghij2',
  repo: 'did:plc:abcdefghijklmnopqrstuvwx',
  blobs: [],
  since: null,
  blocks: new BytesWrapper(new Uint8Array(70_000).fill(7)),
  commit: null,
  rebase: false,
  tooBig: false,
  prevData: null,
}

const bodies: Array<[string, EventType, Record<string, unknown>]> = [
  ['a commit, with blocks long enough for a 4-byte length', 'append', commit],
  ['an account event', 'account', { did: 'did:plc:x', active: false, status: 'deactivated' }],
  ['an identity event', 'identity', { did: 'did:plc:x', handle: 'a.test' }],
  ['a sync event', 'sync', { did: 'did:plc:x', rev: '3k', blocks: new BytesWrapper(Uint8Array.of(1, 2)) }],
  ['an empty body', 'account', {}],
  ['a body that already has seq and time', 'identity', { did: 'did:plc:x', seq: 5, time: 'then', zzz: 1 }],
  ['a body with keys on both sides of seq and time', 'account', { a: 1, ab: [1, { x: -3 }], abc: 'x', sex: 1, sez: 2, tima: 3, timz: 4, longer: { n: 1.5 } }],
  ['a body of more than 23 keys', 'account', Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i * 1000]))],
]

for (const [what, eventType, body] of bodies) {
  test(`eventFrame: ${what}`, () => {
    const event = encodeCbor(body)
    for (const seq of [0, 23, 24, 255, 65_535, 65_536, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const got = eventFrame({ seq, did: 'did:plc:x', eventType, event, sequencedAt: TIME })
      assert.ok(Buffer.from(got).equals(reference(eventType, event, seq, TIME)), `seq ${seq}`)
    }
  })
}

test('wsMessage wraps a frame as one unmasked binary WebSocket message', () => {
  for (const len of [0, 125, 126, 65_535, 65_536]) {
    const frame = new Uint8Array(len).fill(9)
    const msg = wsMessage(frame)
    assert.equal(msg[0], 0x82)
    const [head, n] = len < 126 ? [2, msg[1]] : len < 65_536 ? [4, msg.readUInt16BE(2)] : [10, Number(msg.readBigUInt64BE(2))]
    assert.equal(msg[1]! & 0x80, 0, 'unmasked')
    assert.equal(n, len)
    assert.equal(msg.length, head + len)
    assert.ok(msg.subarray(head).equals(frame))
  }
  // And a frame still decodes as header then body.
  const frame = eventFrame({ seq: 7, did: 'did:plc:x', eventType: 'account', event: encodeCbor({ did: 'did:plc:x', active: true }), sequencedAt: TIME })
  const [header, rest] = decodeCborFirst(frame)
  assert.deepEqual(header, { op: 1, t: '#account' })
  assert.deepEqual(decodeCbor(rest), { did: 'did:plc:x', active: true, seq: 7, time: TIME })
})
