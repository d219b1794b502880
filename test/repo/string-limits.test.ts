// Key and CID strings over 128 characters are refused before they are decoded: no real one is
// that long, and base58 decoding takes time quadratic in the length, so a 100,000-character
// "did:key" from a request body or a DID document used to block the event loop for seconds.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseCid } from '../../src/repo/cid.ts'
import { InvalidKeyError, parseDidKey, parseMultikey, Secp256k1Keypair, verifySignature } from '../../src/repo/crypto/index.ts'
import { didKeyOfVerificationMethod } from '../../src/identity/did-doc.ts'
import { isValidCidString } from '../../src/repo/syntax.ts'

const LONG = 100_000

function timed<T>(fn: () => T): { value: T | undefined; error: unknown; ms: number } {
  const started = performance.now()
  try {
    const value = fn()
    return { value, error: undefined, ms: performance.now() - started }
  } catch (error) {
    return { value: undefined, error, ms: performance.now() - started }
  }
}

describe('did:key and Multikey strings', () => {
  const key = Secp256k1Keypair.create().did()

  test('a real did:key (57 characters) still parses, and one of 129+ is refused', () => {
    assert.equal(parseDidKey(key).jwtAlg, 'ES256K')
    assert.throws(() => parseDidKey(key + '1'.repeat(129 - key.length)), (err) => err instanceof InvalidKeyError && /128/.test(err.message))
  })

  test(`a ${LONG.toLocaleString('en')}-character did:key or Multikey is refused at once`, () => {
    const did = timed(() => parseDidKey('did:key:z' + '2'.repeat(LONG)))
    assert.ok(did.error instanceof InvalidKeyError && /128/.test(did.error.message), String(did.error))
    assert.ok(did.ms < 100, `parseDidKey took ${Math.round(did.ms)} ms`)
    const multi = timed(() => parseMultikey('z' + '2'.repeat(LONG)))
    assert.ok(multi.error instanceof InvalidKeyError && /128/.test(multi.error.message), String(multi.error))
    assert.ok(multi.ms < 100, `parseMultikey took ${Math.round(multi.ms)} ms`)
  })

  test('signature verification against an overlong did:key fails fast', () => {
    const res = timed(() => verifySignature('did:key:z' + '2'.repeat(LONG), new Uint8Array(32), new Uint8Array(64)))
    assert.ok(res.error !== undefined || res.value === false)
    assert.ok(res.ms < 100, `verifySignature took ${Math.round(res.ms)} ms`)
  })

  test('a DID document key of a legacy type, in base58 and overlong, is ignored at once', () => {
    for (const type of ['Multikey', 'EcdsaSecp256k1VerificationKey2019']) {
      const res = timed(() => didKeyOfVerificationMethod({ type, publicKeyMultibase: 'z' + '2'.repeat(LONG) }))
      assert.equal(res.value, undefined)
      assert.ok(res.ms < 100, `${type}: took ${Math.round(res.ms)} ms`)
    }
  })
})

describe('CID strings', () => {
  const cid = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'

  test('a real CID parses; a string over 128 characters is refused as too long', () => {
    assert.equal(parseCid(cid).$link, cid)
    assert.throws(() => parseCid(cid + 'a'.repeat(129 - cid.length)), /too long.*128/)
    const res = timed(() => parseCid('b' + 'a'.repeat(LONG)))
    assert.match(String(res.error), /too long/)
    assert.ok(res.ms < 100)
  })

  test('the lexicon `cid` format refuses strings over 128 characters, in any base', () => {
    assert.ok(isValidCidString(cid))
    assert.ok(!isValidCidString(cid + 'a'.repeat(129 - cid.length)))
    // base58btc: decoded to check the version byte, which is what must not happen at this length
    const z = 'z' + '2'.repeat(200)
    const res = timed(() => isValidCidString(z))
    assert.equal(res.value, false)
  })
})
