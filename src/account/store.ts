// The account store: the one object the services hold over account.sqlite's account tables. Each
// method is a function of the module named after its table (see tables.ts for what they share);
// the types live there too.
import * as accounts from './accounts.ts'
import * as appPasswords from './app-passwords.ts'
import * as emailAuthFactor from './email-auth-factor.ts'
import * as emailTokens from './email-tokens.ts'
import * as invites from './invites.ts'
import * as passwords from './passwords.ts'
import * as refreshTokens from './refresh-tokens.ts'
import * as repoRoot from './repo-root.ts'
import { AccountTables, on } from './tables.ts'

export class AccountStore extends AccountTables {
  // actor and account rows
  readonly createAccount = on(this, accounts.createAccount)
  readonly getAccount = on(this, accounts.getAccount)
  readonly getAccountState = on(this, accounts.getAccountState)
  readonly getAccountByEmail = on(this, accounts.getAccountByEmail)
  readonly getAccounts = on(this, accounts.getAccounts)
  readonly getAccountStatus = on(this, accounts.getAccountStatus)
  readonly updateHandle = on(this, accounts.updateHandle)
  readonly updateEmail = on(this, accounts.updateEmail)
  readonly setEmailConfirmedAt = on(this, accounts.setEmailConfirmedAt)
  readonly confirmEmail = on(this, accounts.confirmEmail)
  readonly deactivateAccount = on(this, accounts.deactivateAccount)
  readonly activateAccount = on(this, accounts.activateAccount)
  readonly setTakedown = on(this, accounts.setTakedown)
  readonly getAdminStatus = on(this, accounts.getAdminStatus)
  readonly deleteAccount = on(this, accounts.deleteAccount)

  // the account password
  readonly getPasswordHash = on(this, passwords.getPasswordHash)
  readonly updatePassword = on(this, passwords.updatePassword)
  readonly resetPassword = on(this, passwords.resetPassword)

  // email two-factor sign-in
  readonly getEmailAuthFactor = on(this, emailAuthFactor.getEmailAuthFactor)
  readonly enableEmailAuthFactor = on(this, emailAuthFactor.enableEmailAuthFactor)
  readonly disableEmailAuthFactor = on(this, emailAuthFactor.disableEmailAuthFactor)

  // app passwords
  readonly createAppPassword = on(this, appPasswords.createAppPassword)
  readonly listAppPasswords = on(this, appPasswords.listAppPasswords)
  readonly findAppPassword = on(this, appPasswords.findAppPassword)
  readonly revokeAppPassword = on(this, appPasswords.revokeAppPassword)
  readonly revokeAppPasswordRefreshTokens = on(this, appPasswords.revokeAppPasswordRefreshTokens)
  readonly deleteDelegatedCredentials = on(this, appPasswords.deleteDelegatedCredentials)

  // refresh tokens (sessions)
  readonly storeRefreshToken = on(this, refreshTokens.storeRefreshToken)
  readonly getRefreshToken = on(this, refreshTokens.getRefreshToken)
  readonly getSession = on(this, refreshTokens.getSession)
  readonly rotateRefreshToken = on(this, refreshTokens.rotateRefreshToken)
  readonly revokeRefreshToken = on(this, refreshTokens.revokeRefreshToken)
  readonly revokeRefreshTokensByDid = on(this, refreshTokens.revokeRefreshTokensByDid)
  readonly deleteExpiredRefreshTokens = on(this, refreshTokens.deleteExpiredRefreshTokens)

  // invite codes
  readonly generateInviteCodes = on(this, invites.generateInviteCodes)
  readonly createInviteCodes = on(this, invites.createInviteCodes)
  readonly createAccountInviteCodes = on(this, invites.createAccountInviteCodes)
  readonly isInviteAvailable = on(this, invites.isInviteAvailable)
  readonly ensureInviteAvailable = on(this, invites.ensureInviteAvailable)
  readonly useInviteCode = on(this, invites.useInviteCode)
  readonly getAccountInviteCodes = on(this, invites.getAccountInviteCodes)
  readonly getAccountsInviteCodes = on(this, invites.getAccountsInviteCodes)
  readonly getInviteCodesUses = on(this, invites.getInviteCodesUses)
  readonly getInvitedByForAccounts = on(this, invites.getInvitedByForAccounts)
  readonly listInviteCodes = on(this, invites.listInviteCodes)
  readonly disableInviteCodes = on(this, invites.disableInviteCodes)
  readonly setAccountInvitesDisabled = on(this, invites.setAccountInvitesDisabled)

  // email tokens
  readonly createEmailToken = on(this, emailTokens.createEmailToken)
  readonly checkEmailToken = on(this, emailTokens.checkEmailToken)
  readonly assertValidEmailToken = on(this, emailTokens.assertValidEmailToken)
  readonly consumeEmailToken = on(this, emailTokens.consumeEmailToken)
  readonly findDidByEmailToken = on(this, emailTokens.findDidByEmailToken)
  readonly deleteEmailToken = on(this, emailTokens.deleteEmailToken)
  readonly deleteAllEmailTokens = on(this, emailTokens.deleteAllEmailTokens)

  // the repo_root mirror
  readonly updateRepoRoot = on(this, repoRoot.updateRepoRoot)
  readonly getRepoRoot = on(this, repoRoot.getRepoRoot)
  readonly listRepos = on(this, repoRoot.listRepos)
  readonly noteHeadEvents = on(this, repoRoot.noteHeadEvents)
  readonly flushRepoRoots = on(this, repoRoot.flushRepoRoots)
  readonly repoRootSeq = on(this, repoRoot.repoRootSeq)
  readonly setRepoRootSeq = on(this, repoRoot.setRepoRootSeq)
}
