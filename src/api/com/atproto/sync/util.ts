// What every com.atproto.sync read shares: the account-state gate (the official
// assertRepoAvailability) and CIDs from parameters.
import type { AccountState } from '../../../../account/accounts.ts'
import type { ActorStore } from '../../../../actor/store.ts'
import type { AuthResult } from '../../../../xrpc/auth-result.ts'
import { type Cid, parseCid } from '../../../../repo/cid.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'

/** The account itself or the admin may read a repo whatever its state (official isUserOrAdmin). */
export function isUserOrAdmin(auth: AuthResult, did: string): boolean {
  if (auth.kind === 'admin') return true
  return (auth.kind === 'access' || auth.kind === 'service') && auth.did === did
}

/**
 * The account behind `did`, or the official errors: 400 RepoNotFound for an unknown one,
 * RepoTakendown / RepoDeactivated for one others may not read (unless `isAdminOrSelf`).
 */
export function assertRepoAvailability(s: Pick<Services, 'accounts'>, did: string, isAdminOrSelf: boolean): AccountState {
  const account = s.accounts.getAccountState(did, { includeDeactivated: true, includeTakenDown: true })
  if (!account) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  if (isAdminOrSelf) return account
  if (account.takedownRef) throw invalidRequest(`Repo has been takendown: ${did}`, 'RepoTakendown')
  if (account.deactivatedAt) throw invalidRequest(`Repo has been deactivated: ${did}`, 'RepoDeactivated')
  return account
}

/** The actor store of an available account; an account row without a repo is RepoNotFound too. */
export function availableStore(s: Pick<Services, 'accounts' | 'actors'>, auth: AuthResult, did: string): ActorStore {
  assertRepoAvailability(s, did, isUserOrAdmin(auth, did))
  const store = s.actors.get(did)
  if (!store) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  return store
}

/** A CID from a request parameter; a string the lexicon let through but atproto cannot use is a 400. */
export function paramCid(value: string): Cid {
  try {
    return parseCid(value)
  } catch {
    throw invalidRequest(`Invalid CID: ${value.slice(0, 100)}`)
  }
}
