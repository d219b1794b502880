// Shared by the account-lifecycle tests: a PDS that mails through a capturing SMTP server, and
// a matcher for the XRPC errors the official client throws.
import assert from 'node:assert/strict'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { type SmtpCapture, startSmtpCapture } from '../../mail/smtp-capture.ts'

export async function startMailingPds(env: Record<string, string> = {}): Promise<{ pds: TestPds; smtp: SmtpCapture }> {
  const smtp = await startSmtpCapture()
  const pds = await startTestPds({
    env: { PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: 'noreply@pds.test', ...env },
  })
  return { pds, smtp }
}

/** Awaits `p` and checks it failed with this XRPC status and error name. */
export async function rejectsWith(p: Promise<unknown>, status: number, error: string, message?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = err as { status?: number; error?: string; message?: string }
    assert.equal(e.status, status, `${e.error}: ${e.message}`)
    assert.equal(e.error, error, e.message)
    if (message !== undefined) assert.equal(e.message, message)
    return true
  })
}

export const emailOf = (handle: string) => `${handle}@example.com`

/** Ages every email token of `did` past its 15-minute life. */
export function expireEmailTokens(pds: TestPds, did: string): void {
  const old = new Date(Date.now() - 16 * 60_000).toISOString()
  pds.hearth.services.accounts.db.prepare(`UPDATE "email_token" SET "requestedAt" = ? WHERE "did" = ?`).run(old, did)
}
