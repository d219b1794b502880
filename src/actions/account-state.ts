// An account's state changes with the events relays hear about them: deactivation by the user,
// activation (which over-emits, as official, for relays' sake), an operator's takedown or
// deactivation, and an identity change sent to the PLC directory. With account creation,
// deletion and handle changes, these are the only places beside the write path that append to
// the event log, so a state change and its event are never written apart.
import type { CoreServices } from '../core-services.ts'
import { invalidRequest } from '../errors.ts'
import { getPdsEndpoint, getSigningKey } from '../identity/did-doc.ts'
import { accountEvent, identityEvent, syncEvent } from '../sequencer/events.ts'

const INVALID_HANDLE = 'handle.invalid'

/** The user pauses their account; recorded `deleteAfter` as official (nothing acts on it). */
export function deactivateAccount(s: Pick<CoreServices, 'accounts' | 'sequencer'>, did: string, deleteAfter: string | null): void {
  s.accounts.deactivateAccount(did, deleteAfter)
  s.sequencer.append([accountEvent(did, s.accounts.getAccountStatus(did))])
}

/**
 * Ends a deactivation (or finishes a move in) once the DID document makes this PDS the account's
 * home: `#account`, `#identity` and a `#sync` with the current commit.
 */
export async function activateAccount(
  s: Pick<CoreServices, 'accounts' | 'actors' | 'config' | 'didResolver' | 'plc' | 'plcRotationKey' | 'sequencer'>,
  did: string,
): Promise<void> {
  await assertValidDidDocumentForService(s, did)
  const account = s.accounts.getAccount(did, { includeDeactivated: true })
  if (!account) throw invalidRequest('user not found', 'AccountNotFound')
  // Read before changing anything, so that a missing repo leaves the account as it was.
  const store = s.actors.get(did)
  const head = store?.head()
  const commitBytes = head ? store?.getBlock(head.cid) : undefined
  if (!head || !commitBytes) throw invalidRequest(`Could not find root for DID: ${did}`)
  s.accounts.activateAccount(did)
  s.sequencer.append([
    accountEvent(did, s.accounts.getAccountStatus(did)),
    identityEvent(did, account.handle ?? INVALID_HANDLE),
    syncEvent(did, head.rev, head.cid, commitBytes),
  ])
}

/** The official check with its messages: the DID document must make this PDS the account's home. */
async function assertValidDidDocumentForService(
  s: Pick<CoreServices, 'actors' | 'config' | 'didResolver' | 'plc' | 'plcRotationKey'>,
  did: string,
): Promise<void> {
  let pds: string | undefined
  let signingKey: string | undefined
  if (did.startsWith('did:plc:')) {
    const data = await s.plc.getDocumentData(did)
    if (!data.rotationKeys.includes(s.plcRotationKey.did())) {
      throw invalidRequest('Server rotation key not included in PLC DID data')
    }
    pds = data.services.atproto_pds?.endpoint
    signingKey = data.verificationMethods.atproto
  } else {
    const doc = await s.didResolver.resolve(did, true)
    if (!doc) throw invalidRequest('Could not resolve DID')
    pds = getPdsEndpoint(doc)
    signingKey = getSigningKey(doc)
  }
  if (!pds || pds !== s.config.service.publicUrl) {
    throw invalidRequest('DID document atproto_pds service endpoint does not match PDS public url')
  }
  const keypair = s.actors.get(did)?.keypair()
  if (!signingKey || !keypair || signingKey !== keypair.did()) {
    throw invalidRequest('DID document verification method does not match expected signing key')
  }
}

export interface StatusAttr {
  applied: boolean
  ref?: string
}

/**
 * An operator's takedown (or its reversal) and deactivation of an account, then one `#account`
 * event with the resulting status. The official would announce an unknown DID as deleted; there
 * is nothing here to announce.
 */
export function setAccountModeration(
  s: Pick<CoreServices, 'accounts' | 'sequencer'>,
  did: string,
  change: { takedown?: StatusAttr; deactivated?: StatusAttr },
): void {
  if (change.takedown) s.accounts.setTakedown(did, change.takedown)
  if (change.deactivated) {
    if (change.deactivated.applied) s.accounts.deactivateAccount(did, null)
    else s.accounts.activateAccount(did)
  }
  if (s.accounts.getAccount(did, { includeTakenDown: true, includeDeactivated: true })) {
    s.sequencer.append([accountEvent(did, s.accounts.getAccountStatus(did))])
  }
}

/**
 * After a DID document change went to the directory: relays hear `#identity`, and the cached
 * document is refreshed. Neither failure undoes the change, which the directory already holds.
 */
export async function announceIdentityChange(s: Pick<CoreServices, 'didResolver' | 'logger' | 'sequencer'>, did: string): Promise<void> {
  try {
    s.sequencer.append([identityEvent(did)])
  } catch (err) {
    s.logger.error({ did, err: String(err) }, 'failed to sequence identity event')
  }
  try {
    await s.didResolver.refresh(did)
  } catch (err) {
    s.didResolver.invalidate(did)
    s.logger.error({ did, err: String(err) }, 'failed to refresh did after plc update')
  }
}
