import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as refCrypto from '@atproto/crypto'
import * as refRepo from '@atproto/repo'
import { p256 as nobleP256 } from '@noble/curves/nist.js'
import { secp256k1 as nobleK256 } from '@noble/curves/secp256k1.js'
import { BytesWrapper, decodeCbor, encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidEquals, cidForCbor, cidForRaw, parseCid } from '../../src/repo/cid.ts'
import {
  type Commit,
  CommitError,
  decodeCommit,
  decodeVersionedCommit,
  encodeCommit,
  type LegacyCommitV2,
  signCommit,
  type UnsignedCommit,
  unsignedCommitBytes,
  verifyCommitSig,
} from '../../src/repo/commit.ts'
import { type Keypair, P256Keypair, Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { prng, toRefCid } from '../helpers/reference.ts'

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const REV = '3jzfcijpj2z2a'

function cid(n: number): Cid {
  return cidForCbor(encodeCbor({ n }))
}

function unsigned(over: Partial<UnsignedCommit> = {}): UnsignedCommit {
  return { did: DID, version: 3, data: cid(1), rev: REV, prev: null, ...over }
}

function toRefUnsigned(u: UnsignedCommit) {
  return { did: u.did, version: 3 as const, data: toRefCid(u.data), rev: u.rev, prev: u.prev ? toRefCid(u.prev) : null }
}

function toRefCommit(c: Commit) {
  return { ...toRefUnsigned(c), sig: c.sig }
}

async function refBlock(commit: refRepo.Commit | ReturnType<typeof toRefCommit>): Promise<{ cid: Cid; bytes: Uint8Array }> {
  const blocks = new refRepo.BlockMap()
  const c = await blocks.add(commit)
  const bytes = blocks.get(c)
  assert.ok(bytes)
  // @atproto/repo hands back its own CID class; its string form is the common ground.
  return { cid: parseCid(c.toString()), bytes }
}

const CURVES: { name: string; make: () => Keypair; ref: (priv: Uint8Array) => Promise<refCrypto.Keypair & { did(): string }>; n: bigint }[] = [
  { name: 'ES256K', make: () => Secp256k1Keypair.create(), ref: (p) => refCrypto.Secp256k1Keypair.import(p), n: nobleK256.Point.Fn.ORDER },
  { name: 'ES256', make: () => P256Keypair.create(), ref: (p) => refCrypto.P256Keypair.import(p), n: nobleP256.Point.Fn.ORDER },
]

function highS(sig: Uint8Array, n: bigint): Uint8Array {
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'))
  const out = sig.slice()
  out.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), 32)
  return out
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts.map((p) => Uint8Array.from(p))))
}

/** A CBOR map written by hand, so tests can produce orders and encodings the encoder never would. */
function rawMap(entries: [string, Uint8Array][], header?: number[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from(header ?? [0xa0 + entries.length])]
  for (const [k, v] of entries) parts.push(encodeCbor(k), v)
  return concat(...parts)
}

function commitEntries(c: Commit): [string, Uint8Array][] {
  return [
    ['did', encodeCbor(c.did)],
    ['rev', encodeCbor(c.rev)],
    ['sig', encodeCbor(new BytesWrapper(c.sig))],
    ['data', encodeCbor(c.data)],
    ['prev', encodeCbor(c.prev)],
    ['version', encodeCbor(c.version)],
  ]
}

function assertCommitError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CommitError, `expected CommitError, got ${String(err)}`)
    assert.match(err.message, message)
    return true
  })
}

// ---------------------------------------------------------------------------------------------

for (const curve of CURVES) {
  test(`commit ${curve.name}: sign, encode, decode, verify`, () => {
    const kp = curve.make()
    for (const prev of [null, cid(99)]) {
      const commit = signCommit(unsigned({ prev }), kp)
      assert.deepEqual(Object.keys(commit).sort(), ['data', 'did', 'prev', 'rev', 'sig', 'version'])
      assert.equal(commit.sig.length, 64)
      const { cid: c, bytes } = encodeCommit(commit)
      assert.ok(cidEquals(c, cidForCbor(bytes)))
      const back = decodeCommit(bytes)
      assert.deepEqual(back, commit)
      assert.ok(back.sig.constructor === Uint8Array)
      assert.ok(verifyCommitSig(back, kp.did()))
      assert.equal(verifyCommitSig(back, curve.make().did()), false)
      // The signed bytes are the unsigned map with `prev` present even when null.
      const signed = decodeCbor(unsignedCommitBytes(commit)) as Record<string, unknown>
      assert.deepEqual(Object.keys(signed).sort(), ['data', 'did', 'prev', 'rev', 'version'])
    }
  })

  test(`commit ${curve.name}: interop with @atproto/repo`, async () => {
    for (let i = 0; i < 4; i++) {
      const kp = curve.make()
      const rk = await curve.ref(kp.export())
      const u = unsigned({ data: cid(i), prev: i % 2 ? cid(100 + i) : null, rev: `3jzfcijpj2z${'abcd'[i]}a` })
      const ours = signCommit(u, kp)
      const theirs = await refRepo.signCommit(toRefUnsigned(u), rk)
      const ourBlock = encodeCommit(ours)
      const theirBlock = await refBlock(theirs)

      // Same commit fields through the reference encoder give Hearth's bytes and CID exactly.
      const ourViaRef = await refBlock(toRefCommit(ours))
      assert.ok(same(ourBlock.bytes, ourViaRef.bytes))
      assert.ok(cidEquals(ourBlock.cid, ourViaRef.cid))
      if (curve.name === 'ES256K') {
        // RFC 6979 on both sides: the whole block is identical.
        assert.ok(same(ours.sig, theirs.sig))
        assert.ok(same(ourBlock.bytes, theirBlock.bytes))
        assert.ok(cidEquals(ourBlock.cid, theirBlock.cid))
      }

      assert.ok(await refRepo.verifyCommitSig(toRefCommit(ours), kp.did()), 'reference verifies Hearth')
      const theirsDecoded = decodeCommit(theirBlock.bytes)
      assert.equal(theirsDecoded.rev, u.rev)
      assert.ok(cidEquals(theirsDecoded.data, u.data))
      assert.ok(verifyCommitSig(theirsDecoded, rk.did()), 'Hearth verifies reference')

      const tampered = { ...toRefCommit(ours), rev: '3jzfcijpj2z2b' }
      assert.equal(await refRepo.verifyCommitSig(tampered, kp.did()), false)
    }
  })

  test(`commit ${curve.name}: bad, high-S and DER signatures and tampered fields are refused`, async () => {
    const kp = curve.make()
    const commit = signCommit(unsigned(), kp)
    const did = kp.did()
    const high = { ...commit, sig: highS(commit.sig, curve.n) }
    assert.equal(verifyCommitSig(high, did), false)
    assert.equal(await refRepo.verifyCommitSig(toRefCommit(high), did), false, 'the reference agrees on high-S')
    const curveLib = curve.name === 'ES256K' ? nobleK256 : nobleP256
    const der = curveLib.Signature.fromBytes(commit.sig, 'compact').toBytes('der')
    assert.equal(verifyCommitSig({ ...commit, sig: der }, did), false)
    assert.equal(verifyCommitSig({ ...commit, sig: new Uint8Array(64) }, did), false)
    assert.equal(verifyCommitSig({ ...commit, sig: new Uint8Array(0) }, did), false)
    const flipped = commit.sig.slice()
    flipped[10] ^= 1
    assert.equal(verifyCommitSig({ ...commit, sig: flipped }, did), false)
    assert.equal(verifyCommitSig({ ...commit, did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }, did), false)
    assert.equal(verifyCommitSig({ ...commit, rev: '3jzfcijpj2z2b' }, did), false)
    assert.equal(verifyCommitSig({ ...commit, data: cid(2) }, did), false)
    assert.equal(verifyCommitSig({ ...commit, prev: cid(3) }, did), false)
    assert.equal(verifyCommitSig(commit, 'did:key:zNotAKey'), false)
    assert.equal(verifyCommitSig({ ...commit, data: 'nope' } as unknown as Commit, did), false, 'never throws')
    // A tampered block still decodes, but no longer verifies.
    const block = encodeCommit({ ...commit, rev: '3jzfcijpj2z2c' })
    assert.equal(verifyCommitSig(decodeCommit(block.bytes), did), false)
  })
}

test('commit: encoding ignores stray properties on the object', () => {
  const kp = Secp256k1Keypair.create()
  const commit = signCommit({ ...unsigned(), extra: 1 } as UnsignedCommit, kp)
  assert.ok(!('extra' in commit))
  const withExtra = { ...commit, extra: 'x' } as Commit
  assert.deepEqual(encodeCommit(withExtra).bytes, encodeCommit(commit).bytes)
  assert.ok(verifyCommitSig(withExtra, kp.did()))
})

test('commit: signCommit refuses malformed fields', () => {
  const kp = Secp256k1Keypair.create()
  assertCommitError(() => signCommit(unsigned({ did: 'not a did' }), kp), /did is not a valid DID/)
  assertCommitError(() => signCommit(unsigned({ rev: '2024-01-01' }), kp), /rev is not a valid TID/)
  assertCommitError(() => signCommit(unsigned({ data: cidForRaw(new Uint8Array(3)) }), kp), /dag-cbor CID/)
  assertCommitError(() => signCommit(unsigned({ prev: 'x' as unknown as Cid }), kp), /prev must be a CID link or null/)
  assertCommitError(() => signCommit({ ...unsigned(), version: 2 } as unknown as UnsignedCommit, kp), /only v3/)
  assertCommitError(() => encodeCommit({ ...signCommit(unsigned(), kp), sig: 'x' as unknown as Uint8Array }), /sig must be bytes/)
})

test('commit: decodeCommit refuses wrong shapes with clear errors', () => {
  const kp = Secp256k1Keypair.create()
  const commit = signCommit(unsigned(), kp)
  const entries = commitEntries(commit)
  assert.deepEqual(rawMap(entries), encodeCommit(commit).bytes, 'the hand-written map matches the encoder')
  const replace = (key: string, value: Uint8Array) => rawMap(entries.map(([k, v]) => [k, k === key ? value : v]))
  const without = (key: string) => rawMap(entries.filter(([k]) => k !== key))

  assertCommitError(() => decodeCommit(new Uint8Array(0)), /not valid DAG-CBOR/)
  assertCommitError(() => decodeCommit(Uint8Array.of(0xff, 0x00)), /not valid DAG-CBOR/)
  assertCommitError(() => decodeCommit(encodeCbor([1, 2])), /not a CBOR map/)
  assertCommitError(() => decodeCommit(encodeCbor('commit')), /not a CBOR map/)
  assertCommitError(() => decodeCommit(encodeCbor(null)), /not a CBOR map/)
  for (const key of ['did', 'rev', 'sig', 'data', 'prev']) {
    assertCommitError(() => decodeCommit(without(key)), new RegExp(`missing field\\(s\\): ${key}`))
  }
  assertCommitError(() => decodeCommit(without('version')), /unsupported commit version: undefined/)
  assertCommitError(() => decodeCommit(rawMap([...entries.slice(0, 5), ['zzz', encodeCbor(1)], entries[5]])), /not valid DAG-CBOR/)
  assertCommitError(() => decodeCommit(encodeCbor({ ...decodeCbor(encodeCommit(commit).bytes) as object, extra: 1 })), /unexpected field\(s\) in commit: extra/)
  assertCommitError(() => decodeCommit(replace('version', encodeCbor(4))), /unsupported commit version: 4/)
  assertCommitError(() => decodeCommit(replace('version', encodeCbor('3'))), /unsupported commit version: "3"/)
  assertCommitError(() => decodeCommit(replace('version', encodeCbor(2))), /unsupported commit version: 2/)
  assertCommitError(() => decodeCommit(replace('did', encodeCbor('did:plc:'))), /did is not a valid DID/)
  assertCommitError(() => decodeCommit(replace('did', encodeCbor(5))), /did is not a valid DID/)
  assertCommitError(() => decodeCommit(replace('data', encodeCbor(cid(1).$link))), /data is not a CID link/)
  assertCommitError(() => decodeCommit(replace('data', encodeCbor(null))), /data is not a CID link/)
  assertCommitError(() => decodeCommit(replace('data', encodeCbor(cidForRaw(Uint8Array.of(1))))), /dag-cbor CID/)
  assertCommitError(() => decodeCommit(replace('rev', encodeCbor('3JZFCIJPJ2Z2A'))), /rev is not a valid TID/)
  assertCommitError(() => decodeCommit(replace('rev', encodeCbor(null))), /rev is not a valid TID/)
  assertCommitError(() => decodeCommit(replace('prev', encodeCbor('bafy'))), /prev must be a CID link or null/)
  assertCommitError(() => decodeCommit(replace('sig', encodeCbor(Buffer.from(commit.sig).toString('base64')))), /sig is not bytes/)
  assertCommitError(() => decodeCommit(replace('sig', encodeCbor([1]))), /sig is not bytes/)
})

test('commit: non-canonical encodings are refused', () => {
  const kp = Secp256k1Keypair.create()
  const commit = signCommit(unsigned(), kp)
  const entries = commitEntries(commit)
  const replace = (key: string, value: Uint8Array) => rawMap(entries.map(([k, v]) => [k, k === key ? value : v]))
  const good = rawMap(entries)
  assert.deepEqual(decodeCommit(good), commit)

  // version 3 as a one-byte-argument integer, and as 16-, 32- and 64-bit floats.
  assertCommitError(() => decodeCommit(replace('version', Uint8Array.of(0x18, 0x03))), /not valid DAG-CBOR/)
  assertCommitError(() => decodeCommit(replace('version', Uint8Array.of(0xf9, 0x42, 0x00))), /DAG-CBOR/)
  assertCommitError(() => decodeCommit(replace('version', Uint8Array.of(0xfa, 0x40, 0x40, 0x00, 0x00))), /DAG-CBOR/)
  const f64 = Buffer.alloc(9)
  f64[0] = 0xfb
  f64.writeDoubleBE(3, 1)
  assertCommitError(() => decodeCommit(replace('version', Uint8Array.from(f64))), /DAG-CBOR/)
  // Keys out of canonical order (length first, then bytewise), and a duplicate key.
  const swapped = [entries[3], ...entries.slice(0, 3), ...entries.slice(4)]
  assertCommitError(() => decodeCommit(rawMap(swapped)), /not valid DAG-CBOR/)
  assertCommitError(() => decodeCommit(rawMap([...entries, entries[5]])), /not valid DAG-CBOR/)
  // An indefinite-length map, a non-minimal map header and a non-minimal string length.
  assertCommitError(() => decodeCommit(concat(rawMap(entries, [0xbf]), [0xff])), /not valid DAG-CBOR/)
  assertCommitError(() => decodeCommit(rawMap(entries, [0xb8, 0x06])), /not valid DAG-CBOR/)
  const didBytes = new TextEncoder().encode(DID)
  assert.deepEqual(decodeCommit(replace('did', concat([0x78, didBytes.length], didBytes))), commit, 'the 32-char DID takes a 1-byte length')
  assertCommitError(() => decodeCommit(replace('did', concat([0x79, 0x00, didBytes.length], didBytes))), /not valid DAG-CBOR/)
  // Trailing bytes after the map.
  assertCommitError(() => decodeCommit(concat(good, [0x00])), /not valid DAG-CBOR/)
})

test('commit: v2 commits are readable and verifiable, but not as v3', async () => {
  for (const withRev of [false, true]) {
    const kp = Secp256k1Keypair.create()
    const v2: Omit<LegacyCommitV2, 'sig'> = { did: DID, version: 2, data: cid(7), prev: cid(8) }
    if (withRev) v2.rev = REV
    const sig = kp.sign(unsignedCommitBytes(v2))
    const bytes = encodeCbor({ ...v2, sig: new BytesWrapper(sig) })
    assertCommitError(() => decodeCommit(bytes), /unsupported commit version: 2/)
    const back = decodeVersionedCommit(bytes)
    assert.equal(back.version, 2)
    assert.equal(back.rev, withRev ? REV : undefined)
    assert.equal('rev' in back, withRev)
    assert.ok(verifyCommitSig(back, kp.did()))
    const refV2 = { did: DID, version: 2, data: toRefCid(v2.data), prev: toRefCid(v2.prev!), sig, ...(withRev ? { rev: REV } : {}) }
    assert.ok(await refRepo.verifyCommitSig(refV2 as unknown as refRepo.Commit, kp.did()))
  }
  const v3 = encodeCommit(signCommit(unsigned(), Secp256k1Keypair.create())).bytes
  assert.equal(decodeVersionedCommit(v3).version, 3)
})

test('commit: random corruption never crashes the decoder or passes verification', () => {
  const rand = prng(7)
  const kp = Secp256k1Keypair.create()
  const commit = signCommit(unsigned({ prev: cid(5) }), kp)
  const good = encodeCommit(commit).bytes
  let decoded = 0
  for (let i = 0; i < 3000; i++) {
    const bytes = good.slice()
    const flips = 1 + Math.floor(rand() * 3)
    for (let j = 0; j < flips; j++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256)
    const cut = rand() < 0.1 ? bytes.subarray(0, Math.floor(rand() * bytes.length)) : bytes
    let c: Commit
    try {
      c = decodeCommit(cut)
    } catch (err) {
      assert.ok(err instanceof CommitError, `unexpected ${String(err)}`)
      continue
    }
    decoded++
    if (Buffer.compare(Buffer.from(cut), Buffer.from(good)) !== 0) {
      assert.equal(verifyCommitSig(c, kp.did()), false)
    }
  }
  assert.ok(decoded > 0, 'some corruptions land in the signature or strings and still decode')
})

// The commit map is written by hand (commit.ts); the generic encoder is the reference.
test('commit: the hand-written commit encoding equals the generic encoder on varied shapes', () => {
  const rnd = prng(18)
  const dids = [DID, 'did:web:a.b', `did:web:${'x'.repeat(13)}`, `did:web:${'x'.repeat(14)}`, `did:web:${'x'.repeat(247)}`, `did:web:${'x'.repeat(248)}`, `did:web:${'y'.repeat(2040)}`]
  const sigLens = [64, 0, 23, 24, 255, 256, 300]
  let n = 0
  for (const did of dids) {
    for (const sigLen of sigLens) {
      for (const prev of [null, cid(7)]) {
        const sig = new Uint8Array(sigLen).map(() => Math.floor(rnd() * 256))
        const u = unsigned({ did, prev, data: cid(n++) })
        const generic = (withSig: boolean, v: UnsignedCommit | Omit<LegacyCommitV2, 'sig'>) => {
          const map: Record<string, unknown> = { did: v.did, version: v.version, data: v.data, prev: v.prev }
          if (v.rev !== undefined) map.rev = v.rev
          if (withSig) map.sig = new BytesWrapper(sig)
          return encodeCbor(map)
        }
        assert.deepEqual(unsignedCommitBytes(u), generic(false, u))
        const block = encodeCommit({ ...u, sig })
        assert.deepEqual(block.bytes, generic(true, u))
        assert.ok(cidEquals(block.cid, cidForCbor(generic(true, u))))
        const v2: Omit<LegacyCommitV2, 'sig'> = { did, version: 2, data: u.data, prev }
        assert.deepEqual(unsignedCommitBytes(v2), generic(false, v2))
        assert.deepEqual(unsignedCommitBytes({ ...v2, rev: REV }), generic(false, { ...v2, rev: REV }))
      }
    }
  }
  // Outside the fast path's shape (non-ASCII), the generic encoder answers.
  const odd = unsigned({ did: 'did:web:ünïcode.example' })
  assert.deepEqual(unsignedCommitBytes(odd), encodeCbor({ did: odd.did, version: 3, data: odd.data, prev: null, rev: REV }))
})
