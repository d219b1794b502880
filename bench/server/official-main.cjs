// Child process of the server benchmark: runs the official PDS through its production
// configuration path, as bluesky-social/pds's service/index.js does (readEnv -> envToCfg ->
// envToSecrets -> PDS.create -> start). The parent passes every setting through PDS_* variables
// and the cache folder holding @atproto/pds in HEARTH_BENCH_OFFICIAL_DIR. Plain CommonJS so that
// it runs under plain node, with nothing of Hearth's loaded into the measured process.
'use strict'
const { createRequire } = require('node:module')
const path = require('node:path')

const officialDir = process.env.HEARTH_BENCH_OFFICIAL_DIR
if (!officialDir) throw new Error('HEARTH_BENCH_OFFICIAL_DIR is not set')
const requireOfficial = createRequire(path.join(officialDir, 'package.json'))
const pkg = requireOfficial('@atproto/pds')

async function main() {
  const env = pkg.readEnv()
  const cfg = pkg.envToCfg(env)
  const secrets = pkg.envToSecrets(env)
  const pds = await pkg.PDS.create(cfg, secrets)
  await pds.start()
  process.stdout.write(`READY ${cfg.service.port}\n`)
  const stop = () => {
    pds.destroy().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  process.stderr.write(`official PDS failed to start: ${err && err.stack ? err.stack : String(err)}\n`)
  process.exit(1)
})
