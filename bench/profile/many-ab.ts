// `node --import tsx bench/profile/many-ab.ts [rounds]`: the server bench's many-accounts rows
// (bench/server/many.ts: BENCH_ACCOUNTS accounts of one post, first touch and round robin of
// getRecord and createRecord) for Hearth alone, on two sides taking turns, so that a change to the
// open path, or another runtime, can be read apart from the machine's drift. A side is
// MANY_A / MANY_B = `<tree>` or `<tree>@<node binary>` (a built tree's dist/hearth.mjs, started
// as `npm start` starts it; by default this tree under this node on both sides).
// E.g. `MANY_B=$PWD@bench/.official-0.5/node/bin/node` runs side B under the official 0.5.x's Node 22.
// MANY_ENV_A / MANY_ENV_B: variables for one side's server (`K=V K2=V2`, e.g. HEARTH_REOPEN_STORES=0).
import { fileURLToPath } from 'node:url'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { runManyAccountsWorkload } from '../server/many.ts'
import { startHearthTree } from '../server/processes.ts'

const rounds = Number(process.argv[2] ?? 2)
const here = fileURLToPath(new URL('../..', import.meta.url))
const side = (spec: string | undefined): { tree: string; node?: string } => {
  if (!spec) return { tree: here }
  const at = spec.indexOf('@')
  return at < 0 ? { tree: spec } : { tree: spec.slice(0, at), node: spec.slice(at + 1) }
}
const sides = [['A', side(process.env.MANY_A)], ['B', side(process.env.MANY_B)]] as const
const plc = await startReferencePlc()
try {
  for (let round = 0; round < rounds; round++) {
    for (const [name, { tree, node }] of sides) {
      const env = Object.fromEntries((process.env[`MANY_ENV_${name}`] ?? '').split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
      const pds = await startHearthTree(tree, plc.url, { node, env })
      const { results: r, pds: after } = await runManyAccountsWorkload(pds, () => {})
      await after.stop()
      const f = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2))
      console.log(
        `round ${round} ${name}: p50 / server CPU ms per request: first-touch getRecord ${f(r.firstTouchGetP50)} / ${f(r.firstTouchGetCpuMs)}, ` +
          `round-robin getRecord ${f(r.roundRobinGetP50)} / ${f(r.roundRobinGetCpuMs)}, first-touch createRecord ${f(r.firstTouchCreateP50)} / ${f(r.firstTouchCreateCpuMs)}, ` +
          `round-robin createRecord ${f(r.roundRobinCreateP50)} / ${f(r.roundRobinCreateCpuMs)}`,
      )
    }
  }
} finally {
  await plc.close()
}
