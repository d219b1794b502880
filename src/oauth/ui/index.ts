// Mounts the user-facing OAuth pages: the authorization endpoint (GET/POST /oauth/authorize)
// and the account page (GET/POST /account, GET /account/repo.car and /account/blobs.tar). Without CORS: they are documents and form posts
// for this site only.
import type { OAuthProvider } from '../provider.ts'
import { OAuthStore } from '../store.ts'
import type { PagesServices } from './context.ts'
import type { RouteHandler, XrpcServer } from '../../xrpc/server.ts'
import { MoveIn } from '../../actions/move-in.ts'
import { DeviceManager } from '../device/manager.ts'
import { DeviceStore } from '../device/store.ts'
import { accountGet, accountPost } from './account.ts'
import { accountExportGet } from './account-export.ts'
import { accountBlobsGet } from './account-blobs.ts'
import { authorizeGet, authorizePost } from './authorize.ts'
import { homeContext, homeGet, homePost } from './home.ts'
import { type PagesContext, RequestSignIns } from './context.ts'
import { DEFAULT_SIGN_IN_LIMITS, SignInChecker, type SignInLimits } from './sign-in.ts'

export interface OAuthPagesOptions {
  /** Sign-in attempt limits (tests lower them). */
  signInLimits?: SignInLimits
  /** This server's own address (its listening port on loopback), for the XRPC calls of a move in. */
  selfUrl?: string
}

export interface OAuthPages {
  /** GET / for browsers: the home page with the move-in form. */
  home?: RouteHandler
  moveIn: MoveIn | null
  close(): void
}

export function mountOAuthPages(xrpc: XrpcServer, s: PagesServices & { oauth: OAuthProvider }, opts: OAuthPagesOptions = {}): OAuthPages {
  const provider = s.oauth
  const issuer = new URL(s.config.oauth.issuer)
  const secureCookies = issuer.protocol === 'https:'
  const ctx: PagesContext = {
    s,
    provider,
    tokens: new OAuthStore(s.accounts.db),
    devices: new DeviceManager(new DeviceStore(s.accounts.db), { secure: secureCookies }),
    signIn: new SignInChecker(s, opts.signInLimits ?? DEFAULT_SIGN_IN_LIMITS),
    issuerOrigin: issuer.origin,
    secureCookies,
    requestSignIns: new RequestSignIns(),
  }
  xrpc.addRoute('GET', '/oauth/authorize', authorizeGet(ctx), { cors: false })
  xrpc.addRoute('POST', '/oauth/authorize', authorizePost(ctx), { cors: false })
  xrpc.addRoute('GET', '/account', accountGet(ctx), { cors: false })
  xrpc.addRoute('POST', '/account', accountPost(ctx), { cors: false })
  xrpc.addRoute('GET', '/account/repo.car', accountExportGet(ctx), { cors: false })
  xrpc.addRoute('GET', '/account/blobs.tar', accountBlobsGet(ctx), { cors: false })
  const moveIn = opts.selfUrl ? new MoveIn(s, opts.selfUrl) : null
  if (!moveIn) return { moveIn, close() {} }
  const home = homeContext(ctx, moveIn)
  xrpc.addRoute('POST', '/', homePost(home), { cors: false })
  return { home: homeGet(home), moveIn, close: () => moveIn.close() }
}
