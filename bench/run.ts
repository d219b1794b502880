// `npm run bench`: every benchmark, Hearth beside the reference implementation, then a table
// and a final JSON line (ratio > 1 means Hearth is better). `BENCH_SERVER=0` skips the server
// rows, `BENCH_S3=0` the blob rows on S3 and disk; docs/BENCHMARKS.md says what each row measures.
import { report, type Row } from './harness.ts'
import { mstBenchmarks } from './mst.bench.ts'
import { repoBenchmarks } from './repo.bench.ts'
import { fanoutBenchmarks } from './server/fanout.ts'
import { serverBenchmarks } from './server/index.ts'
import { s3Benchmarks } from './server/s3.ts'

const rows: Row[] = []
rows.push(...(await mstBenchmarks()))
rows.push(...(await repoBenchmarks()))
// Last: it starts both servers as child processes (and installs the official one the first time).
rows.push(...(await serverBenchmarks()))
// Blobs on S3 (one s3rver process, a bucket for each server) beside the same on disk.
rows.push(...(await s3Benchmarks()))
// The firehose to BENCH_FANOUT subscribers (default 300; 0 skips) and its backfill from cursor 0.
rows.push(...(await fanoutBenchmarks()))
report(rows)
