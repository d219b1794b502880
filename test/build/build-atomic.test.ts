// The bundle is rebuilt by every `npm start` and by each test file that starts Hearth as its own
// process, some of them side by side: a process starting from dist/ while another build writes
// it must read a whole file. Builds run here back to back while this process reads the bundle
// and the lexicon file as fast as it can: every read must be complete (the bundle ends with its
// source-map line, the JSON parses). Before the build wrote each file under a temporary name and
// renamed it into place, a few reads in a hundred during a build came out cut short.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BUILDS = 4

function buildsInARow(count: number): Promise<number> {
  const script = `for i in $(seq 1 ${count}); do "${process.execPath}" scripts/build.mjs || exit 1; done`
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { cwd: ROOT, stdio: 'inherit' })
    child.once('error', reject)
    child.once('exit', (code) => resolve(code ?? 1))
  })
}

test('a rebuild never leaves a reader of dist/ half a bundle or half the lexicon file', async () => {
  const done = { code: null as number | null }
  const builds = buildsInARow(BUILDS).then((code) => {
    done.code = code
  })
  let reads = 0
  const cut: string[] = []
  while (done.code === null) {
    for (let i = 0; i < 20; i++) {
      reads++
      let bundle = ''
      try {
        bundle = readFileSync(`${ROOT}dist/hearth.mjs`, 'utf8')
      } catch {
        // Not built yet (a fresh clone): nothing to read, nothing cut.
        continue
      }
      if (!bundle.endsWith('//# sourceMappingURL=hearth.mjs.map\n')) cut.push(`hearth.mjs: ${bundle.length} characters`)
      try {
        JSON.parse(readFileSync(`${ROOT}dist/lexicons.json`, 'utf8'))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') cut.push(`lexicons.json: ${(err as Error).message}`)
      }
    }
    await new Promise((r) => setImmediate(r))
  }
  await builds
  assert.equal(done.code, 0, 'the builds succeeded')
  assert.ok(reads > 50, `only ${reads} reads during ${BUILDS} builds`)
  assert.deepEqual(cut, [], `${cut.length} of ${reads} reads were cut short`)
  assert.deepEqual(readdirSync(`${ROOT}dist`).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind')
})
