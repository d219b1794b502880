// A real S3-compatible server (s3rver) as its own process, for the blob store tests: argv is
// <directory> <port> <bucket...>; prints {"port": N} once listening. Credentials: S3RVER/S3RVER.
'use strict'
const S3rver = require('s3rver')

const [directory, port, ...buckets] = process.argv.slice(2)
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  // Path-style only: the tests name the bucket in the path, as PDS_BLOBSTORE_S3_FORCE_PATH_STYLE does.
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name })),
})
server.run().then(
  (addr) => process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`),
  (err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  },
)
process.on('SIGTERM', () => server.close().then(() => process.exit(0), () => process.exit(0)))
