// A real SMTP server on loopback (smtp-server) that keeps what it receives, for tests that
// follow an emailed code the way a user would: read the mail, copy the code.
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  from: string
  to: string[]
  subject: string
  /** The raw RFC 5322 message. */
  raw: string
  /** The first `XXXXX-XXXXX` code in the message, or null. */
  token: string | null
}

export interface SmtpCapture {
  /** smtp://127.0.0.1:<port>, for PDS_EMAIL_SMTP_URL. */
  url: string
  /** Every message received so far, oldest first. */
  received: ReceivedMail[]
  /** The next not-yet-taken message to `to` (any recipient when omitted), waiting for it. */
  next(to?: string, timeoutMs?: number): Promise<ReceivedMail>
  /** Fails the next `n` deliveries with a 451 reply. */
  failNext(n: number): void
  close(): Promise<void>
}

const TOKEN = /\b[A-Z2-7]{5}-[A-Z2-7]{5}\b/

export async function startSmtpCapture(): Promise<SmtpCapture> {
  const received: ReceivedMail[] = []
  const taken = new Set<ReceivedMail>()
  const waiters = new Set<() => void>()
  let failures = 0
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        if (failures > 0) {
          failures--
          const err = new Error('try again later') as Error & { responseCode: number }
          err.responseCode = 451
          callback(err)
          return
        }
        const raw = Buffer.concat(chunks).toString('utf8')
        const subject = /^Subject: (.*)$/im.exec(raw)?.[1]?.trim() ?? ''
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject,
          raw,
          token: TOKEN.exec(raw)?.[0] ?? null,
        })
        callback()
        for (const wake of [...waiters]) wake()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as AddressInfo

  const find = (to?: string) => received.find((m) => !taken.has(m) && (to === undefined || m.to.includes(to)))

  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    next(to, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = find(to)
          if (!hit) return false
          taken.add(hit)
          waiters.delete(wake)
          clearTimeout(timer)
          resolve(hit)
          return true
        }
        const wake = () => void check()
        const timer = setTimeout(() => {
          waiters.delete(wake)
          reject(new Error(`no mail to ${to ?? 'anyone'} within ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(wake)
        check()
      })
    },
    failNext(n) {
      failures = n
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
