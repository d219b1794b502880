// `npm run bench`: every benchmark, Hearth beside the reference implementation, then a table
// and a final JSON line (ratio > 1 means Hearth is better). `BENCH_SERVER=0` skips the server
// rows; docs/BENCHMARKS.md says what each row measures.
import { report, type Row } from './harness.ts'
import { mstBenchmarks } from './mst.bench.ts'
import { repoBenchmarks } from './repo.bench.ts'
import { serverBenchmarks } from './server/index.ts'

const rows: Row[] = []
rows.push(...(await mstBenchmarks()))
rows.push(...(await repoBenchmarks()))
// Last: it starts both servers as child processes (and installs the official one the first time).
rows.push(...(await serverBenchmarks()))
report(rows)
