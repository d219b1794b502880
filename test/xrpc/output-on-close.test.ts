// An output's onClose (bytes in a buffer the caller reuses, as getBlob's from disk) runs only once
// the response is done with them: every byte handed to the socket, or the connection gone. A
// client that stops reading holds the rest of a large answer in the server, in that buffer.
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { silentLogger } from '../../src/logger.ts'
import { createXrpcServer } from '../../src/xrpc/server.ts'
import { listen, type Listening } from '../helpers/net.ts'

// Larger than loopback's socket buffers can hold for a client that reads nothing (4 MiB to send,
// the receiver's window unopened): most of it stays queued in the server.
const BODY = new Uint8Array(24 * 1024 * 1024).fill(7)

async function start(): Promise<{ net: Listening; closes: () => number }> {
  let closes = 0
  const server = createXrpcServer({ logger: silentLogger, validateResponses: true })
  server.register({
    nsid: 'com.atproto.sync.getBlob',
    auth: () => ({ kind: 'none' }),
    handler: () => ({ encoding: 'application/octet-stream', body: BODY, onClose: () => void closes++ }),
  })
  return { net: await listen(server.httpServer), closes: () => closes }
}

function ask(net: Listening): Socket {
  const socket = connect(net.port, '127.0.0.1')
  socket.write(`GET /xrpc/com.atproto.sync.getBlob?did=did:plc:ewvi7nxzyoun6zhxrhs64oiz&cid=bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)
  return socket
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await wait(10)
  }
}

test('onClose waits while a client has not taken the answer, and runs once when it has read it all', async () => {
  const { net, closes } = await start()
  try {
    const socket = ask(net)
    socket.pause()
    await wait(300)
    assert.equal(closes(), 0, 'the bytes are still queued to the socket: the buffer is in use')
    let received = 0
    socket.on('data', (d: Buffer) => (received += d.length))
    socket.resume()
    await new Promise((r) => socket.once('end', r))
    assert.ok(received > BODY.length, 'the whole answer arrived')
    await until(() => closes() === 1)
    await wait(50)
    assert.equal(closes(), 1, 'once')
  } finally {
    await net.close()
  }
})

test('onClose runs when the client goes away in the middle of the answer', async () => {
  const { net, closes } = await start()
  try {
    const socket = ask(net)
    await new Promise((r) => socket.once('data', r))
    socket.pause()
    await wait(100)
    assert.equal(closes(), 0)
    socket.destroy()
    await until(() => closes() === 1)
  } finally {
    await net.close()
  }
})
