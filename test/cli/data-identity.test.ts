// A data directory remembers the hostname and PLC rotation key it was created for; `hearth serve`
// refuses to start on it with others, instead of serving accounts whose DIDs point elsewhere.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { checkDataIdentity, SERVICE_FILE_NAME } from '../../src/cli/data-identity.ts'
import { loadConfig } from '../../src/config/index.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const dirs: string[] = []
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'hearth-data-identity-'))
  dirs.push(d)
  return d
}

const SECRETS = {
  PDS_JWT_SECRET: 'jwt-secret-for-tests-0123456789abcdef',
  PDS_ADMIN_PASSWORD: 'admin-pass-for-tests',
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'a'.repeat(63) + '1',
}

test('the first start records the service; the same settings start again; another hostname or key is refused', () => {
  const data = path.join(tempDir(), 'data')
  const env = { PDS_HOSTNAME: 'pds.example.com', PDS_DATA_DIRECTORY: data, ...SECRETS }
  checkDataIdentity(loadConfig(env, { dotenv: false }))
  const recorded = JSON.parse(readFileSync(path.join(data, SERVICE_FILE_NAME), 'utf8')) as { hostname: string; plcRotationKey: string }
  assert.equal(recorded.hostname, 'pds.example.com')
  assert.match(recorded.plcRotationKey, /^did:key:z/)
  checkDataIdentity(loadConfig(env, { dotenv: false }))

  assert.throws(
    () => checkDataIdentity(loadConfig({ ...env, PDS_HOSTNAME: 'other.example.com' }, { dotenv: false })),
    /created for PDS_HOSTNAME=pds\.example\.com, and this start has PDS_HOSTNAME=other\.example\.com/,
  )
  assert.throws(
    () => checkDataIdentity(loadConfig({ ...env, PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'b'.repeat(63) + '1' }, { dotenv: false })),
    /another PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX/,
  )
})

test('hearth serve refuses a data directory made for another hostname, saying why, and does not listen', () => {
  const cwd = tempDir()
  const data = path.join(cwd, 'data')
  checkDataIdentity(loadConfig({ PDS_HOSTNAME: 'pds.example.com', PDS_DATA_DIRECTORY: data, ...SECRETS }, { dotenv: false }))
  const res = spawnSync(process.execPath, [path.join(root, 'bin/hearth.js'), 'serve'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PDS_HOSTNAME: 'other.example.com', PDS_PORT: '0', PDS_DATA_DIRECTORY: data, ...SECRETS },
    encoding: 'utf8',
    timeout: 30_000,
  })
  assert.equal(res.status, 1, res.stdout + res.stderr)
  assert.match(res.stderr, /refusing to start on .*created for PDS_HOSTNAME=pds\.example\.com/)
  assert.doesNotMatch(res.stdout, /listening/)
  assert.ok(!existsSync(path.join(data, 'account.sqlite')), 'nothing was opened')
})
