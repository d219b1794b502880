// com.atproto.server.createSession: log in with a handle, email or DID and a password or app
// password, and, for an account with email two-factor sign-in on, the code mailed to it
// (authFactorToken; without one, 401 AuthFactorTokenRequired and a code is sent).
import { checkSignInFactor } from '../../../../actions/sign-in-factor.ts'
import { sessionCreated } from '../../../../metrics/index.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { didDocForSession, sessionView } from './util.ts'

export default function createSession(s: Pick<Services, 'accounts' | 'auth' | 'config' | 'didResolver' | 'mailer' | 'sessions'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.createSession',
    auth: s.auth.none,
    rateLimits: [
      {
        name: 'create-session-5m',
        durationMs: 5 * 60_000,
        points: 30,
        key: (ctx) => `${String((ctx.input as { identifier?: unknown })?.identifier ?? '')}-${ctx.ip}`,
      },
      {
        name: 'create-session-day',
        durationMs: 24 * 60 * 60_000,
        points: 300,
        key: (ctx) => `${String((ctx.input as { identifier?: unknown })?.identifier ?? '')}-${ctx.ip}`,
      },
    ],
    handler: async ({ input }) => {
      const body = input as { identifier: string; password: string; allowTakendown?: boolean; authFactorToken?: string }
      const login = await s.sessions.login({
        identifier: body.identifier,
        password: body.password,
        allowTakendown: body.allowTakendown,
      })
      await checkSignInFactor(s, login.account, login.appPassword !== null, body.authFactorToken)
      const tokens = s.sessions.createSession(login.account.did, login.appPassword, { takendown: login.takendown })
      sessionCreated.inc({ source: 'com.atproto.server.createSession' })
      const didDoc = await didDocForSession(s, login.account.did)
      const out = { ...tokens, ...sessionView(login.account, !!s.accounts.getEmailAuthFactor(login.account.did)), ...(didDoc ? { didDoc } : {}) }
      return { encoding: 'application/json', body: out }
    },
  }
}
