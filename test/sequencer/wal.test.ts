// The event log's WAL stays bounded under the write path's appends. Each commit's event is one
// statement on its own; SQLite checkpoints a WAL (and starts it again from its beginning) only
// from a statement stepped to its end, so an append that stopped at its first row (an INSERT …
// RETURNING read with `get()`) never checkpointed: the WAL grew by every append until the close
// (a server's log went past 100 MB in a few thousand writes, every write extending the file).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { SeqEvent } from '../../src/sequencer/events.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import { WRITE_PATH_WAL_PAGES } from '../../src/storage/sqlite.ts'

test('single appends keep the log WAL near its checkpoint size, and seqs stay gap-free', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-seq-wal-'))
  const path = join(dir, 'sequencer.sqlite')
  const seq = new Sequencer(path)
  try {
    // ~1 KiB events: each append writes several pages, so 2,500 appends write ~15,000 frames
    // (~60 MB of WAL without checkpoints), well past the auto-checkpoint size.
    const event = new Uint8Array(1000).fill(7)
    const seqs: number[] = []
    for (let i = 0; i < 2000; i++) {
      const rows = await seq.appendSoon([{ did: `did:plc:w${i % 7}`, eventType: 'append', event } satisfies SeqEvent])
      seqs.push(rows[0]!.seq)
    }
    for (let i = 0; i < 500; i++) seqs.push(seq.append([{ did: 'did:plc:x', eventType: 'append', event }])[0]!.seq)
    assert.deepEqual(seqs, Array.from({ length: 2500 }, (_, i) => i + 1))
    assert.equal(seq.lastSeq(), 2500)
    const walBytes = statSync(`${path}-wal`).size
    // A WAL restarted at its checkpoints holds at most its checkpoint size plus one append's pages.
    assert.ok(walBytes < (WRITE_PATH_WAL_PAGES + 100) * (4096 + 24), `WAL is ${(walBytes / 1048576).toFixed(1)} MiB after 2,500 appends`)
  } finally {
    seq.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
