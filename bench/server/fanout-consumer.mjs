// A firehose consumer process for the fan-out benchmark (fanout.ts forks several): holds many
// subscribeRepos WebSockets at once and counts the #commit frames each receives, their order,
// and their lag (receipt time minus the frame's own `time`, the moment the server sequenced the
// commit) and from the writer sending it (a stamp the writer puts in the post's text). Plain
// JavaScript over node:net with a minimal WebSocket reader, so that the consumers'
// own cost per frame stays far below the server's: the point is to load the server, not the
// clients, on a machine both share. Talks to its parent over IPC:
//   parent → {cmd: 'open', url, count}   child → {type: 'ready', open, failed, error?}
//   parent → {cmd: 'stats'}              child → {type: 'stats', commits}
//   parent → {cmd: 'finish'}             child → {type: 'final', ..., seqs (every commit seen)}
//                                        and exits.
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'

const LAG_BUCKETS = 300_001 // 1 ms each, up to 300 s; later ones go in the last
const lag = new Uint32Array(LAG_BUCKETS)
/** The same from the writer sending the createRecord (a stamp in the post's text) to receipt. */
const lagSent = new Uint32Array(LAG_BUCKETS)
/** seq → the frame's `time` in ms since the epoch, parsed once per process. */
const timeOfSeq = new Map()
/** seq → when the writer sent the write (0 when the post has no stamp). */
const sentOfSeq = new Map()
const subs = []
let commits = 0
/** Wall-clock time of the last #commit frame received. */
let lastAt = 0

const SEQ_KEY = Buffer.from([0x63, 0x73, 0x65, 0x71]) // text(3) "seq"
const TIME_KEY = Buffer.from([0x64, 0x74, 0x69, 0x6d, 0x65]) // text(4) "time"
const ERROR_KEY = Buffer.from([0x65, 0x65, 0x72, 0x72, 0x6f, 0x72]) // text(5) "error"
const COMMIT_T = Buffer.from('#commit')
const SENT_MARK = Buffer.from('@sent=')

function readUint(buf, at) {
  const ib = buf[at] & 0x1f
  if ((buf[at] & 0xe0) !== 0) return -1
  if (ib < 24) return ib
  if (ib === 24) return buf[at + 1]
  if (ib === 25) return buf.readUInt16BE(at + 1)
  if (ib === 26) return buf.readUInt32BE(at + 1)
  if (ib === 27) return Number(buf.readBigUInt64BE(at + 1))
  return -1
}

function readText(buf, at) {
  if ((buf[at] & 0xe0) !== 0x60) return null
  const ib = buf[at] & 0x1f
  let len = ib
  let start = at + 1
  if (ib === 24) {
    len = buf[at + 1]
    start = at + 2
  } else if (ib === 25) {
    len = buf.readUInt16BE(at + 1)
    start = at + 3
  }
  return buf.toString('latin1', start, start + len)
}

function onMessage(sub, msg) {
  const now = Date.now()
  // Header {op: -1} (a1 62 6f 70 20): an error frame, then close.
  if (msg[0] === 0xa1 && msg[4] === 0x20) {
    const at = msg.indexOf(ERROR_KEY)
    sub.error = at >= 0 ? readText(msg, at + ERROR_KEY.length) : 'error'
    return
  }
  // Only the writer's commits count; the header {op: 1, t: '#commit'} is in the first bytes.
  const t = msg.indexOf(COMMIT_T)
  if (t < 0 || t > 16) return
  const s = msg.indexOf(SEQ_KEY, t)
  if (s < 0) return
  const seq = readUint(msg, s + SEQ_KEY.length)
  let time = timeOfSeq.get(seq)
  if (time === undefined) {
    const ta = msg.indexOf(TIME_KEY, t)
    time = ta < 0 ? now : Date.parse(readText(msg, ta + TIME_KEY.length) ?? '')
    if (!Number.isFinite(time)) time = now
    timeOfSeq.set(seq, time)
    // The post is in the frame's CAR blocks as DAG-CBOR: its text, stamp included, as is.
    const m = msg.indexOf(SENT_MARK, ta < 0 ? t : ta)
    sentOfSeq.set(seq, m < 0 ? 0 : Number(msg.toString('latin1', m + SENT_MARK.length, m + SENT_MARK.length + 13)) || 0)
  }
  const sent = sentOfSeq.get(seq)
  if (sent > 0) lagSent[Math.min(LAG_BUCKETS - 1, Math.max(0, now - sent))]++
  if (sub.last >= 0 && seq !== sub.last + 1) sub.gaps++
  if (seq <= sub.last) sub.disorder++
  sub.last = seq
  sub.commits++
  commits++
  lastAt = now
  lag[Math.min(LAG_BUCKETS - 1, Math.max(0, now - time))]++
}

function pong(sock, payload) {
  // Client frames are masked; a zero mask leaves the payload as it is.
  if (payload.length > 125) return
  sock.write(Buffer.concat([Buffer.from([0x8a, 0x80 | payload.length, 0, 0, 0, 0]), payload]))
}

/** Parses every whole frame in sub.buf; keeps the rest for the next chunk. */
function parse(sub) {
  let buf = sub.buf
  let at = 0
  for (;;) {
    if (buf.length - at < 2) break
    const b0 = buf[at]
    let len = buf[at + 1] & 0x7f
    let head = 2
    if (len === 126) {
      if (buf.length - at < 4) break
      len = buf.readUInt16BE(at + 2)
      head = 4
    } else if (len === 127) {
      if (buf.length - at < 10) break
      len = Number(buf.readBigUInt64BE(at + 2))
      head = 10
    }
    if (buf.length - at < head + len) break
    const payload = buf.subarray(at + head, at + head + len)
    const op = b0 & 0x0f
    if (op === 2) onMessage(sub, payload)
    else if (op === 9) pong(sub.sock, payload)
    else if (op === 8) {
      sub.closeCode = len >= 2 ? payload.readUInt16BE(0) : 1005
      sub.sock.end()
    }
    at += head + len
  }
  sub.buf = at === buf.length ? EMPTY : buf.subarray(at)
}

const EMPTY = Buffer.alloc(0)

function open(url) {
  const u = new URL(url)
  return new Promise((resolve) => {
    const sub = { sock: null, buf: EMPTY, upgraded: false, commits: 0, last: -1, gaps: 0, disorder: 0, error: null, closeCode: null, ended: false }
    const sock = connect({ host: u.hostname, port: Number(u.port) })
    sub.sock = sock
    sock.setNoDelay(true)
    const key = randomBytes(16).toString('base64')
    sock.on('connect', () => {
      sock.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      )
    })
    sock.on('data', (chunk) => {
      sub.buf = sub.buf.length === 0 ? chunk : Buffer.concat([sub.buf, chunk])
      if (!sub.upgraded) {
        const end = sub.buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const status = sub.buf.toString('latin1', 0, end).split('\r\n')[0]
        if (!/^HTTP\/1\.1 101/.test(status)) {
          sock.destroy()
          return resolve({ error: status })
        }
        sub.upgraded = true
        sub.buf = sub.buf.subarray(end + 4)
        resolve({ sub })
      }
      parse(sub)
    })
    sock.on('error', (err) => {
      if (!sub.upgraded) resolve({ error: err.message })
    })
    sock.on('close', () => {
      sub.ended = true
      if (!sub.upgraded) resolve({ error: 'closed before the upgrade' })
    })
  })
}

async function openAll(url, count) {
  let failed = 0
  let error
  let next = 0
  // A few dozen handshakes at a time: a burst of thousands would overflow the listen backlog.
  const worker = async () => {
    while (next < count) {
      next++
      const r = await open(url)
      if (r.sub) subs.push(r.sub)
      else {
        failed++
        error = r.error
      }
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
  return { open: subs.length, failed, error }
}

function percentile(q) {
  let total = 0
  for (let i = 0; i < LAG_BUCKETS; i++) total += lag[i]
  if (total === 0) return null
  const want = Math.ceil((q / 100) * total)
  let seen = 0
  for (let i = 0; i < LAG_BUCKETS; i++) {
    seen += lag[i]
    if (seen >= want) return i
  }
  return LAG_BUCKETS - 1
}

process.on('message', async (m) => {
  if (m.cmd === 'open') {
    const r = await openAll(m.url, m.count)
    process.send({ type: 'ready', ...r })
  } else if (m.cmd === 'stats') {
    process.send({ type: 'stats', commits })
  } else if (m.cmd === 'finish') {
    const perSub = subs.map((s) => ({ commits: s.commits, gaps: s.gaps, disorder: s.disorder, error: s.error, closeCode: s.closeCode, ended: s.ended }))
    // Sparse histogram, for merging across processes.
    const hist = []
    const histSent = []
    for (let i = 0; i < LAG_BUCKETS; i++) {
      if (lag[i] > 0) hist.push([i, lag[i]])
      if (lagSent[i] > 0) histSent.push([i, lagSent[i]])
    }
    for (const s of subs) s.sock.destroy()
    process.send({ type: 'final', commits, lastAt, perSub, hist, histSent, seqs: [...timeOfSeq.keys()], p50: percentile(50), p99: percentile(99) }, () => process.exit(0))
  }
})
process.on('disconnect', () => process.exit(0))
