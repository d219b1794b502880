// `npm run bench`: every benchmark, Hearth beside the reference implementation, then a table
// and a final JSON line (ratio > 1 means Hearth is better).
import { report, type Row } from './harness.ts'
import { mstBenchmarks } from './mst.bench.ts'
import { repoBenchmarks } from './repo.bench.ts'

const rows: Row[] = []
rows.push(...(await mstBenchmarks()))
rows.push(...(await repoBenchmarks()))
report(rows)
