import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TID } from '@atproto/common'
import {
  decodeTid,
  encodeTid,
  isValidTid,
  MAX_TID_MICROS,
  nextTid,
  TidClock,
  tidToTimestampMicros,
} from '../../src/repo/tid.ts'
import { prng } from '../helpers/reference.ts'

test('a fresh TID is valid, 13 characters and carries the current time', () => {
  const before = Date.now() * 1000
  const tid = nextTid()
  assert.equal(tid.length, 13)
  assert.ok(isValidTid(tid), tid)
  const micros = tidToTimestampMicros(tid)
  assert.ok(micros >= before && micros < before + 5_000_000, `${micros} vs ${before}`)
})

test('encode and decode are inverse, at the edges too', () => {
  const cases: [number, number][] = [
    [0, 0],
    [0, 1023],
    [1, 0],
    [2 ** 30 - 1, 5],
    [2 ** 30, 5],
    [1_700_000_000_000_000, 512],
    [MAX_TID_MICROS, 1023],
  ]
  for (const [micros, clockId] of cases) {
    const tid = encodeTid(micros, clockId)
    assert.ok(isValidTid(tid), tid)
    assert.deepEqual(decodeTid(tid), { micros, clockId })
  }
  assert.equal(encodeTid(0, 0), '2222222222222')
  assert.equal(encodeTid(MAX_TID_MICROS, 1023), 'bzzzzzzzzzzzz')
  assert.throws(() => encodeTid(-1, 0), RangeError)
  assert.throws(() => encodeTid(1.5, 0), RangeError)
  assert.throws(() => encodeTid(2 ** 53, 0), RangeError)
  assert.throws(() => encodeTid(0, 1024), RangeError)
  assert.throws(() => decodeTid('3jui7kd54zh2'), TypeError)
  assert.throws(() => decodeTid('jzzzzzzzzzzzz'), RangeError) // top bit set: legal syntax, no exact double
})

test('same encoding as the reference implementation', () => {
  const rand = prng(7)
  for (let i = 0; i < 2000; i++) {
    // The reference only pads the clock id, so compare where the timestamp fills 11 characters.
    const micros = 2 ** 50 + Math.floor(rand() * (2 ** 53 - 2 ** 50))
    const clockId = Math.floor(rand() * 1024)
    const ours = encodeTid(micros, clockId)
    assert.equal(ours, TID.fromTime(micros, clockId).toString())
    const ref = TID.fromStr(ours)
    assert.deepEqual(decodeTid(ours), { micros: ref.timestamp(), clockId: ref.clockid() })
  }
})

test('string order equals numeric order', () => {
  const rand = prng(11)
  const parts: [number, number][] = []
  for (let i = 0; i < 5000; i++) {
    // Mix nearby and far-apart values so that equal-prefix comparisons are exercised.
    const base = i % 2 === 0 ? 1_700_000_000_000_000 : 0
    parts.push([base + Math.floor(rand() * (i % 3 === 0 ? 1000 : 2 ** 40)), Math.floor(rand() * 1024)])
  }
  const byNumber = [...parts].sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([m, c]) => encodeTid(m, c))
  const byString = parts.map(([m, c]) => encodeTid(m, c)).sort()
  assert.deepEqual(byString, byNumber)
})

test('100k TIDs in a tight loop are strictly increasing', () => {
  const clock = new TidClock()
  let prev = clock.next()
  for (let i = 0; i < 100_000; i++) {
    const tid = clock.next()
    if (!(tid > prev)) assert.fail(`TID ${i} not increasing: ${prev} then ${tid}`)
    prev = tid
  }
  const ahead = tidToTimestampMicros(prev) - Date.now() * 1000
  assert.ok(ahead < 1_000_000, `ran ${ahead}µs ahead of the wall clock`)
})

test('monotonic when the wall clock stands still or steps back', () => {
  let ms = 1_700_000_000_000
  const clock = new TidClock({ clockId: 3, now: () => ms })
  const a = clock.next()
  const b = clock.next() // same millisecond
  ms -= 60_000 // NTP step back by a minute
  const c = clock.next()
  ms += 120_000
  const d = clock.next()
  assert.ok(a < b && b < c && c < d, [a, b, c, d].join(' '))
  assert.equal(tidToTimestampMicros(a), 1_700_000_000_000_000)
  assert.equal(tidToTimestampMicros(b), 1_700_000_000_000_001)
  assert.equal(tidToTimestampMicros(c), 1_700_000_000_000_002)
  assert.equal(tidToTimestampMicros(d), 1_700_000_060_000_000)
  assert.equal(decodeTid(d).clockId, 3)
})

test('nextAfter returns a TID greater than prev, even one minted ahead by another clock', () => {
  const ms = 1_700_000_000_000
  const clock = new TidClock({ clockId: 0, now: () => ms })
  const future = encodeTid(ms * 1000 + 5_000_000, 1023)
  const r1 = clock.nextAfter(future)
  assert.ok(r1 > future, `${r1} > ${future}`)
  const r2 = clock.next()
  assert.ok(r2 > r1, 'later TIDs stay after it')
  const past = encodeTid(1000, 7)
  const r3 = clock.nextAfter(past)
  assert.ok(r3 > r2)
  assert.ok(clock.nextAfter(null) > r3)
  assert.throws(() => clock.nextAfter('not-a-tid'), TypeError)
  assert.throws(() => clock.nextAfter(encodeTid(MAX_TID_MICROS, 0)), RangeError)
})

test('clock ids are validated and random by default', () => {
  assert.throws(() => new TidClock({ clockId: 1024 }), RangeError)
  assert.throws(() => new TidClock({ clockId: -1 }), RangeError)
  const ids = new Set<number>()
  for (let i = 0; i < 50; i++) ids.add(new TidClock().clockId)
  assert.ok(ids.size > 1)
})
