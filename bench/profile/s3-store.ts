// `node --import tsx bench/profile/s3-store.ts`: the S3 blob store alone, in process, against
// one s3rver process: CPU of this process (process.cpuUsage, user + system) per getStream of a
// 1 MiB permanent blob read to the end, per getBytes, and per putTemp of 1 MiB (a temp object
// written and hashed). S3STORE_N operations per kind (default 100) after a warm-up of 20;
// S3STORE_ONLY=<name prefix> runs one kind (e.g. getStream).
import { createHash } from 'node:crypto'
import { startS3 } from '../../test/helpers/s3.ts'
import { S3BlobStore } from '../../src/blob/s3-store.ts'
import { cidForRawDigest } from '../../src/repo/cid.ts'

const N = Number(process.env.S3STORE_N ?? 100)
const ONLY = process.env.S3STORE_ONLY
const SIZE = 1024 * 1024
const DID = 'did:plc:s3storebench00000000000'

function blob(i: number): Buffer {
  const out = Buffer.alloc(SIZE)
  let block = createHash('sha256').update(`s3-store ${i}`).digest()
  for (let o = 0; o < out.length; o += 32) {
    block.copy(out, o)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

async function* asChunks(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts
}

const s3 = await startS3()
const e = s3.env()
const store = await S3BlobStore.create({
  provider: 's3',
  bucket: e.PDS_BLOBSTORE_S3_BUCKET as string,
  region: 'us-east-1',
  endpoint: s3.url,
  forcePathStyle: true,
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  uploadTimeoutMs: 20_000,
  requestTimeoutMs: 15_000,
})
try {
  const bytes = blob(0)
  const cid = cidForRawDigest(createHash('sha256').update(bytes).digest())
  await store.putPermanent(DID, cid, bytes)
  const bodies = Array.from({ length: 8 }, (_, i) => blob(i + 1))
  const measure = async (name: string, op: (i: number) => Promise<void>) => {
    if (ONLY && !name.startsWith(ONLY)) return
    for (let i = 0; i < 20; i++) await op(i)
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    for (let i = 0; i < N; i++) await op(i)
    const ms = performance.now() - t0
    const c = process.cpuUsage(c0)
    console.log(`${name}: ${((c.user + c.system) / 1000 / N).toFixed(2)} ms CPU/op (system ${(c.system / 1000 / N).toFixed(2)}), ${(ms / N).toFixed(2)} ms/op`)
  }
  let chunks = 0
  await measure('getStream, read whole', async () => {
    const s = await store.getStream(DID, cid)
    let got = 0
    for await (const c of s) {
      got += (c as Buffer).length
      chunks++
    }
    if (got !== SIZE) throw new Error(`read ${got}`)
  })
  if (chunks) console.log(`  ${(chunks / (N + 20)).toFixed(1)} chunks per blob`)
  await measure('getBytes', async () => {
    if ((await store.getBytes(DID, cid)).length !== SIZE) throw new Error('size')
  })
  await measure('putTemp + deleteTemp', async (i) => {
    const t = await store.putTemp(DID, asChunks([bodies[i % bodies.length] as Buffer]))
    await store.deleteTemp(DID, t.key)
  })
  await measure('putTemp (64 KiB chunks)', async (i) => {
    const b = bodies[i % bodies.length] as Buffer
    const parts: Buffer[] = []
    for (let o = 0; o < b.length; o += 65536) parts.push(b.subarray(o, o + 65536))
    await store.putTemp(DID, asChunks(parts))
  })
  await measure('deleteTemp (missing key)', async () => {
    await store.deleteTemp(DID, 'abcdefghijklmnopqrstuvwxyz234567')
  })
} finally {
  store.close()
  await s3.close()
}
