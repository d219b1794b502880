// Runs the test suite with node's own test runner, the same way on Node 20, 22 and 24.
//
// Node 20's `node --test` does not expand glob patterns itself (21+ does), so this script finds
// every `test/**/*.test.ts` file and hands the list to `node --import tsx --test`, under the very
// Node binary that runs this script. The runner's closing summary (`# tests N`, `# pass N`,
// `# fail N`, ...) is node's own.
//
//   npm test                                   every test file
//   npm test -- test/repo                      the files under a folder
//   npm test -- test/repo/mst.test.ts          one file
//   npm test -- --test-name-pattern=proof      any `--flag` is passed to node as it is
//
// When stdout is not a terminal (CI, a pipe), the TAP reporter is used unless a
// `--test-reporter` is given: Node 20 picks TAP there by itself but Node 23+ picks `spec`, and
// TAP keeps the `# tests N` summary lines the same under every version.
//
// Every Hearth started during the run (in a test's process or spawned by it) reports an error no
// code handled to HEARTH_BACKSTOP_LOG, a fresh file: the run fails if anything got there, even
// when every test passed, since such an error would have ended a standalone server.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const testDir = path.join(root, 'test')

function findTests(dir: string, out: string[]): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) findTests(full, out)
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(full)
  }
  return out
}

const flags: string[] = []
const targets: string[] = []
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('-')) flags.push(arg)
  else targets.push(arg)
}

let files: string[] = []
if (targets.length === 0) {
  files = findTests(testDir, [])
} else {
  for (const target of targets) {
    // npm runs scripts from the package root; INIT_CWD is where `npm test` was typed.
    const full = path.resolve(process.env.INIT_CWD ?? process.cwd(), target)
    if (!existsSync(full)) {
      console.error(`test/run: no such file or folder: ${target}`)
      process.exit(2)
    }
    if (statSync(full).isDirectory()) files.push(...findTests(full, []))
    else files.push(full)
  }
}
files = [...new Set(files)].sort()

if (files.length === 0) {
  if (targets.length > 0) {
    console.error(`test/run: no *.test.ts files under ${targets.join(', ')}`)
    process.exit(2)
  }
  console.error('test/run: warning: no test files found under test/')
  // Print the same closing summary node would, so that a reader of the log sees what ran.
  console.log('# tests 0\n# pass 0\n# fail 0')
  process.exit(0)
}

const hasReporter = flags.some((f) => f.startsWith('--test-reporter'))
const hasConcurrency = flags.some((f) => f.startsWith('--test-concurrency'))
const args = [
  '--import',
  'tsx',
  '--test',
  ...(hasConcurrency ? [] : ['--test-concurrency=2']),
  ...(hasReporter || process.stdout.isTTY ? [] : ['--test-reporter=tap']),
  ...flags,
  ...files.map((f) => path.relative(root, f)),
]

const backstopDir = mkdtempSync(path.join(tmpdir(), 'hearth-backstop-'))
const backstopLog = path.join(backstopDir, 'backstop.jsonl')
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, HEARTH_BACKSTOP_LOG: backstopLog } })
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => child.kill(signal))
}
child.on('exit', (code, signal) => {
  const reached = existsSync(backstopLog) ? readFileSync(backstopLog, 'utf8').trim() : ''
  rmSync(backstopDir, { recursive: true, force: true })
  if (reached !== '') {
    const lines = reached.split('\n')
    console.error(`test/run: FAILED: ${lines.length} error(s) reached the server's last-resort handler (each would have ended a standalone server):`)
    for (const line of lines) console.error(line)
    process.exit(1)
  }
  if (signal) {
    console.error(`test/run: the test runner was stopped by ${signal}`)
    process.exit(1)
  }
  process.exit(code ?? 1)
})
