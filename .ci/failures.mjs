// Reads the log of one `npm test` run (node's TAP output) and prints, a line each, the tests that
// failed: where they are and the first line of their error. CI prints these lines after its
// summary, so that the end of a long log, which may be all a reader gets, says what failed.
// Also prints the test runner's own verdicts (`test/run: ...`, e.g. an error that reached a
// server's last-resort handler while every test passed).
//
//   node .ci/failures.mjs LABEL LOG
import { readFileSync } from 'node:fs'

const [label, file] = process.argv.slice(2)
let text = ''
try {
  text = readFileSync(file, 'utf8')
} catch {
  console.log(`${label}: no log at ${file}`)
  process.exit(0)
}
const lines = text.split('\n')
const out = []
const MAX = 12

for (let i = 0; i < lines.length; i++) {
  const line = lines[i]
  const notOk = /^(\s*)not ok \d+ - (.*)$/.exec(line)
  if (notOk) {
    const indent = notOk[1].length
    const name = notOk[2].replace(/ # .*$/, '')
    let location = ''
    let error = ''
    let failureType = ''
    // The YAML block under the line, up to its closing `...` at the same depth.
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j]
      if (l.trim() === '...' && l.length - l.trimStart().length === indent + 2) break
      const field = /^\s*(location|failureType|error): (.*)$/.exec(l)
      if (!field) continue
      let value = field[2]
      if (value === '|-' || value === '|' || value === '>-') value = (lines[j + 1] ?? '').trim()
      value = value.replace(/^'(.*)'$/, '$1')
      if (field[1] === 'location' && !location) location = value.replace(/^.*?\/(test\/)/, '$1')
      if (field[1] === 'failureType' && !failureType) failureType = value
      if (field[1] === 'error' && !error) error = value
    }
    // A suite that failed because a test inside it did says nothing new.
    if (failureType === 'subtestsFailed') continue
    out.push(`${label}: not ok - ${name}${location ? ` (${location})` : ''}: ${error.slice(0, 200)}`)
    continue
  }
  if (/^test\/run: /.test(line)) {
    out.push(`${label}: ${line}`)
    for (const next of lines.slice(i + 1, i + 4)) if (next.trim()) out.push(`${label}:   ${next.slice(0, 300)}`)
  }
}

if (out.length === 0) out.push(`${label}: no failing test in the log (see the run's own output above)`)
for (const line of out.slice(0, MAX)) console.log(line)
if (out.length > MAX) console.log(`${label}: ... and ${out.length - MAX} more`)
