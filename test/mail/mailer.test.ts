// The Mailer on its own: each account email carries its code over real SMTP, the no-SMTP mode
// answers as if sent and says so once without the code, and a refused delivery is a bare 500.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Logger } from '../../src/logger.ts'
import { Mailer } from '../../src/mail/mailer.ts'
import { confirmEmailMail, escapeHtml, htmlToPlainText } from '../../src/mail/templates.ts'
import { XrpcError } from '../../src/errors.ts'
import { type SmtpCapture, startSmtpCapture } from './smtp-capture.ts'

interface Line {
  level: string
  fields: unknown
  msg?: string
}

function captureLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (fields: unknown, msg?: string): void => {
      if (typeof fields === 'string') lines.push({ level, fields: {}, msg: fields })
      else lines.push({ level, fields, msg })
    }
  const logger: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    isLevelEnabled: () => true,
    child: () => logger,
  }
  return logger
}

let smtp: SmtpCapture
before(async () => {
  smtp = await startSmtpCapture()
})
after(async () => {
  await smtp?.close()
})

const TOKEN = 'ABCDE-FGH23'

test('each account email goes out over SMTP with its subject, code, handle and sender', async () => {
  const lines: Line[] = []
  const mailer = new Mailer({
    email: { smtpUrl: smtp.url, fromAddress: 'PDS <noreply@pds.test>' },
    logger: captureLogger(lines),
  })
  try {
    assert.equal(mailer.configured, true)
    const cases: Array<[string, () => Promise<void>]> = [
      ['Email Confirmation', () => mailer.sendConfirmEmail({ token: TOKEN, handle: 'al.test' }, { to: 'a@x.test' })],
      ['Email Update Requested', () => mailer.sendUpdateEmail({ token: TOKEN, handle: 'al.test' }, { to: 'a@x.test' })],
      ['Password Reset Requested', () => mailer.sendResetPassword({ token: TOKEN, handle: 'al.test' }, { to: 'a@x.test' })],
      ['Account Deletion Requested', () => mailer.sendAccountDelete({ token: TOKEN, handle: 'al.test' }, { to: 'a@x.test' })],
      ['PLC Update Operation Requested', () => mailer.sendPlcOperation({ token: TOKEN, handle: 'al.test' }, { to: 'a@x.test' })],
    ]
    for (const [subject, send] of cases) {
      await send()
      const mail = await smtp.next('a@x.test')
      assert.equal(mail.subject, subject)
      assert.equal(mail.token, TOKEN)
      assert.equal(mail.from, 'noreply@pds.test')
      assert.match(mail.raw, /@al\.test/)
      assert.match(mail.raw, /text\/plain/)
      assert.match(mail.raw, /text\/html/)
    }
    assert.equal(lines.length, 0, 'a configured mailer logs nothing on success')
  } finally {
    mailer.close()
  }
})

test('confirmation link: present by default, left out with PDS_EMAIL_DISABLE_CONFIRMATION_LINK', () => {
  const withLink = confirmEmailMail({ token: TOKEN })
  assert.match(withLink.text, /https:\/\/bsky\.app\/intent\/verify-email\?code=ABCDE-FGH23/)
  assert.match(withLink.html, /href="https:\/\/bsky\.app\/intent\/verify-email\?code=ABCDE-FGH23"/)
  const without = confirmEmailMail({ token: TOKEN, disableLink: true })
  assert.doesNotMatch(without.text, /bsky\.app/)
  assert.doesNotMatch(without.html, /bsky\.app/)
  assert.match(without.text, /ABCDE-FGH23/)
})

test('templates escape what they put into HTML', () => {
  const mail = confirmEmailMail({ token: '<b>&', handle: 'x"y' })
  assert.ok(mail.html.includes('&lt;b&gt;&amp;'))
  assert.ok(!mail.html.includes('<b>&'))
  assert.equal(escapeHtml(`<a href="x">'`), '&lt;a href=&quot;x&quot;&gt;&#39;')
  assert.equal(htmlToPlainText('<p>Hi &amp; bye</p><script>x()</script><br>next'), 'Hi & bye\n\nnext')
})

test('no SMTP configured: sending succeeds, nothing leaves, one warning without the code or address', async () => {
  const lines: Line[] = []
  const mailer = new Mailer({ email: null, logger: captureLogger(lines) })
  try {
    assert.equal(mailer.configured, false)
    const before = smtp.received.length
    await mailer.sendResetPassword({ token: TOKEN, handle: 'al.test' }, { to: 'secret-person@x.test' })
    await mailer.sendConfirmEmail({ token: TOKEN }, { to: 'secret-person@x.test' })
    assert.equal(smtp.received.length, before)
    assert.equal(lines.length, 1)
    assert.equal(lines[0].level, 'warn')
    const logged = JSON.stringify(lines)
    assert.match(logged, /PDS_EMAIL_SMTP_URL/)
    assert.ok(!logged.includes(TOKEN))
    assert.ok(!logged.includes('secret-person'))
  } finally {
    mailer.close()
  }
})

test('a refused delivery is a bare 500 and the log names neither code nor address', async () => {
  const lines: Line[] = []
  const mailer = new Mailer({ email: { smtpUrl: smtp.url, fromAddress: 'noreply@pds.test' }, logger: captureLogger(lines) })
  try {
    smtp.failNext(1)
    await assert.rejects(mailer.sendAccountDelete({ token: TOKEN }, { to: 'who@x.test' }), (err: unknown) => {
      assert.ok(err instanceof XrpcError)
      assert.equal(err.status, 500)
      assert.equal(err.error, 'InternalServerError')
      assert.ok(!err.message.includes(TOKEN))
      return true
    })
    assert.equal(lines.length, 1)
    assert.equal(lines[0].level, 'error')
    const logged = JSON.stringify(lines)
    assert.ok(!logged.includes(TOKEN))
    assert.ok(!logged.includes('who@x.test'))
    // The next one goes through.
    await mailer.sendAccountDelete({ token: TOKEN }, { to: 'who@x.test' })
    assert.equal((await smtp.next('who@x.test')).token, TOKEN)
  } finally {
    mailer.close()
  }
})

test('moderation mail uses its own transport, sender and default subject', async () => {
  const lines: Line[] = []
  const mailer = new Mailer({
    email: null,
    moderationEmail: { smtpUrl: smtp.url, fromAddress: 'mod@pds.test' },
    logger: captureLogger(lines),
  })
  try {
    await mailer.sendModerationEmail({ to: 'user@x.test', content: '<p>Please stop.</p>' })
    const mail = await smtp.next('user@x.test')
    assert.equal(mail.from, 'mod@pds.test')
    assert.equal(mail.subject, 'Message via your PDS')
    assert.match(mail.raw, /Please stop\./)
    assert.equal(lines.length, 0)
  } finally {
    mailer.close()
  }
})
