import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { defaultActorStoreCacheSize } from '../../src/config/open-files.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'hearth-limits-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function limits(soft: string): string {
  const file = path.join(dir, `limits-${soft}`)
  writeFileSync(
    file,
    `Limit                     Soft Limit           Hard Limit           Units\nMax processes             63704                63704                processes\nMax open files            ${soft}                 1048576              files\n`,
  )
  return file
}

test('actor store cache default: a share of the open-file limit, between 100 and 2,500 stores', () => {
  // Never fewer than 100, however low the limit.
  assert.equal(defaultActorStoreCacheSize(limits('256')), 100)
  // Three descriptors per store within three quarters of the limit, less a reserve of 256.
  assert.equal(defaultActorStoreCacheSize(limits('1024')), 170)
  assert.equal(defaultActorStoreCacheSize(limits('8192')), Math.floor((8192 * 0.75 - 256) / 3))
  assert.equal(defaultActorStoreCacheSize(limits('1048576')), 2500)
  assert.equal(defaultActorStoreCacheSize(limits('unlimited')), 2500)
  assert.equal(defaultActorStoreCacheSize(path.join(dir, 'missing')), 100)
})
