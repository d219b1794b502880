import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import {
  checkStringFormat,
  ensureValidAtUri,
  ensureValidCidString,
  ensureValidDatetime,
  ensureValidDid,
  ensureValidHandle,
  InvalidSyntaxError,
  isValidAtIdentifier,
  isValidAtUri,
  isValidCidString,
  isValidDatetime,
  isValidDid,
  isValidHandle,
  isValidLanguage,
  isValidNsid,
  isValidRecordKey,
  isValidTid,
  isValidUri,
  STRING_FORMATS,
} from '../../src/repo/syntax.ts'
import { readShared, SHARED_DIR, sharedSkip } from '../helpers/shared.ts'

// File stem in ../shared/interop-tests/syntax → lexicon string format.
const STEMS: Record<string, string> = {
  handle: 'handle',
  did: 'did',
  nsid: 'nsid',
  aturi: 'at-uri',
  atidentifier: 'at-identifier',
  recordkey: 'record-key',
  tid: 'tid',
  datetime: 'datetime',
  language: 'language',
  uri: 'uri',
  cid: 'cid',
}

interface Line {
  n: number
  value: string
}

/** INDEX.md §1: split on \n (allowing \r\n), drop empty and `#`-first lines, never trim. */
function vectorLines(file: string): Line[] {
  const out: Line[] = []
  readShared(`syntax/${file}`)
    .split('\n')
    .forEach((raw, i) => {
      const value = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      if (value.length === 0 || value[0] === '#') return
      out.push({ n: i + 1, value })
    })
  return out
}

function show(l: Line): string {
  return `line ${l.n}: ${JSON.stringify(l.value.length > 60 ? `${l.value.slice(0, 60)}…(${l.value.length})` : l.value)}`
}

describe('syntax: shared interop vectors', () => {
  test('every vector file is mapped to a format', { skip: sharedSkip }, () => {
    const files = readdirSync(join(SHARED_DIR as string, 'syntax')).filter((f) => f.endsWith('.txt'))
    for (const f of files) {
      const stem = f.replace(/_(syntax|parse)_(valid|invalid)\.txt$/, '')
      assert.ok(stem in STEMS, `unmapped vector file ${f}`)
    }
  })

  for (const [stem, format] of Object.entries(STEMS)) {
    test(`${stem}_syntax_valid.txt is accepted as ${format}`, { skip: sharedSkip }, () => {
      const lines = vectorLines(`${stem}_syntax_valid.txt`)
      assert.ok(lines.length > 0)
      const refused = lines.filter((l) => !checkStringFormat(format, l.value)).map(show)
      assert.deepEqual(refused, [])
    })

    test(`${stem}_syntax_invalid.txt is refused as ${format}`, { skip: sharedSkip }, () => {
      const lines = vectorLines(`${stem}_syntax_invalid.txt`)
      assert.ok(lines.length > 0)
      const accepted = lines.filter((l) => checkStringFormat(format, l.value)).map(show)
      assert.deepEqual(accepted, [])
    })
  }

  for (const stem of ['datetime', 'language']) {
    test(`${stem}_parse_invalid.txt is refused by the full parse`, { skip: sharedSkip }, () => {
      const lines = vectorLines(`${stem}_parse_invalid.txt`)
      assert.ok(lines.length > 0)
      const accepted = lines.filter((l) => checkStringFormat(STEMS[stem], l.value)).map(show)
      assert.deepEqual(accepted, [])
    })
  }
})

describe('syntax: inline cases', () => {
  const cases: Record<string, { valid: string[]; invalid: string[] }> = {
    handle: {
      valid: ['alice.bsky.social', 'XN--ls8h.test', 'a.co', 'john.onion', `${'a'.repeat(63)}.com`],
      invalid: ['alice', 'alice.123', '-a.com', 'a-.com', 'a_b.com', '127.0.0.1', ' alice.com', 'jo@hn.test', `${'a'.repeat(64)}.com`],
    },
    did: {
      valid: ['did:plc:z72i7hdynmk6r22z27h6tvur', 'did:web:example.com', 'did:web:localhost%3A2583', 'did:m:a:b'],
      invalid: ['DID:plc:abc', 'did:PLC:abc', 'did:plc:', 'did:plc:abc%', 'did:plc:a/b', 'did:plc:a#b', `did:plc:${'a'.repeat(2100)}`],
    },
    nsid: {
      valid: ['app.bsky.feed.post', 'com.example.fooBar', 'one.2.three', 'cn.8.lex.stuff'],
      invalid: ['app.bsky', 'app.bsky.feed.2post', '0app.bsky.feed', 'app.bsky..post', 'app.bsky.feed-post'],
    },
    'at-uri': {
      valid: ['at://did:plc:abc', 'at://alice.test/app.bsky.feed.post', 'at://did:plc:abc/app.bsky.feed.post/3jui7kd54zh2y'],
      invalid: ['at://did:plc:abc/', 'AT://did:plc:abc', 'at://did:plc:abc/app.bsky.feed.post/a/b', 'at://did:plc:abc/app.bsky.feed.post/..', 'at://did:plc:abc?x=1', 'at://alice'],
    },
    'at-identifier': {
      valid: ['alice.test', 'did:plc:abc'],
      invalid: ['@alice.test', 'alice', 'alice@example.com', ''],
    },
    'record-key': {
      valid: ['self', '3jui7kd54zh2y', 'literal:self', 'a~b_c.d-e', 'x'.repeat(512)],
      invalid: ['', '.', '..', 'a/b', 'a b', 'a%20b', 'x'.repeat(513)],
    },
    tid: {
      valid: ['3jui7kd54zh2y', '2222222222222', 'jzzzzzzzzzzzz'],
      invalid: ['kzzzzzzzzzzzz', '3JUI7KD54ZH2Y', '3jui7kd54zh2', '3jui7kd54zh2yy', '3jui-kd54zh2y', '1111111111111'],
    },
    datetime: {
      valid: ['1985-04-12T23:20:50.123Z', '1985-04-12T23:20:50Z', '1985-04-12T23:20:50.123456789+01:45', '0001-01-01T00:00:00Z', '2024-02-29T12:00:00Z', '2000-02-29T00:00:00Z'],
      invalid: ['1985-04-12T23:20:50.123', '1985-04-12 23:20:50Z', '1985-04-12t23:20:50Z', '1985-04-12T23:20Z', '1985-04-12T23:20:50.Z', '1985-04-12T23:20:50-00:00', '1985-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '1985-04-31T00:00:00Z', '1985-13-01T00:00:00Z'],
    },
    language: {
      valid: ['en', 'pt-BR', 'zh-Hant-TW', 'i-default', 'x-private', 'en-a-bbb-x-a-ccc'],
      invalid: ['', 'EN', 'jaja', 'en_US', 'de-DE-1901-1901', 'en-a-foo-a-bar'],
    },
    uri: {
      valid: ['https://example.com', 'dns:example.com', 'microsoft.windows.camera:thing', 'did:plc:abc', 'a:b'],
      invalid: ['example.com', 'http:', '//example.com', '1http://x', 'https://a b', 'https://a\u0000b', `https://x.com/${'x'.repeat(8200)}`],
    },
    cid: {
      valid: [
        'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm',
        'bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity',
        'zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7',
        'f017012202c5f688262e0ece8569aa6f94d60aad55ca8d9d83734e4a7430d0cff6588ec2b',
      ],
      invalid: [
        'QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR',
        'zQmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR', // v0 bytes under a multibase prefix
        'bqaaaaaaaaaaaa', // base32 whose first byte is not the CIDv1 version
        'f1220c3c4733ec8affd06cf9e9ff50ffc6bcd2ec85a6170004bb709669c31de94391a',
        'bafy',
        ' bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm',
        'BAFYREIE5737GDXLW5I64VZICHCALBA3Z2V5N6ICIFVX5XYTVSKE7MR3HPM',
      ],
    },
  }

  for (const [format, { valid, invalid }] of Object.entries(cases)) {
    test(`${format}: inline valid and invalid values`, () => {
      for (const v of valid) assert.equal(checkStringFormat(format, v), true, `should accept ${JSON.stringify(v.slice(0, 80))}`)
      for (const v of invalid) assert.equal(checkStringFormat(format, v), false, `should refuse ${JSON.stringify(v.slice(0, 80))}`)
    })
  }

  test('every lexicon string format has inline cases', () => {
    assert.deepEqual([...STRING_FORMATS].sort(), Object.keys(cases).sort())
  })

  test('isValidX functions agree with checkStringFormat and refuse non-strings', () => {
    const fns: Record<string, (v: unknown) => boolean> = {
      handle: isValidHandle,
      did: isValidDid,
      nsid: isValidNsid,
      'at-uri': isValidAtUri,
      'at-identifier': isValidAtIdentifier,
      'record-key': isValidRecordKey,
      tid: isValidTid,
      datetime: isValidDatetime,
      language: isValidLanguage,
      uri: isValidUri,
      cid: isValidCidString,
    }
    for (const [format, fn] of Object.entries(fns)) {
      for (const v of [...cases[format].valid, ...cases[format].invalid]) assert.equal(fn(v), checkStringFormat(format, v))
      for (const v of [null, undefined, 42, {}, ['a.com']]) assert.equal(fn(v), false)
    }
  })

  test('ensureValidX throws InvalidSyntaxError with the format and value in the message', () => {
    ensureValidHandle('alice.test')
    ensureValidDid('did:plc:abc')
    ensureValidCidString('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
    assert.throws(() => ensureValidHandle('alice'), (err: unknown) => {
      assert.ok(err instanceof InvalidSyntaxError)
      assert.equal(err.format, 'handle')
      assert.match(err.message, /invalid handle "alice"/)
      return true
    })
    assert.throws(() => ensureValidAtUri('at://did:plc:abc/'), /invalid at-uri .*trailing slash/)
    assert.throws(() => ensureValidDatetime('1985-04-12T23:20:50'), /invalid datetime/)
    assert.throws(() => ensureValidDid(42), /invalid did: expected a string, got number/)
  })

  test('checkStringFormat refuses to guess about an unknown format', () => {
    assert.throws(() => checkStringFormat('email', 'a@b.c'), TypeError)
    assert.throws(() => checkStringFormat('toString', 'x'), TypeError)
  })
})
