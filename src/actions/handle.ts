// Handles of hosted accounts: which ones an account may take (syntax, TLD, the service-domain
// rules, reserved names, or proof of control of another domain) and the change itself — the DID
// document first (a PLC operation for did:plc; for did:web the user must have edited their own
// did.json already), then the account row, then the `#identity` event relays act on.
// identity.updateHandle and admin.updateAccountHandle both come through here.
import { DidTombstonedError, PlcRequestError } from '../identity/errors.ts'
import { updateHandleOp } from '../identity/plc-ops.ts'
import { isValidHandle, isValidTld } from '../repo/syntax.ts'
import { identityEvent } from '../sequencer/events.ts'
import type { CoreServices } from '../core-services.ts'
import { invalidRequest } from '../errors.ts'
import { AccountConflictError } from '../account/errors.ts'

// Names a user could pass off as the service's own voice or infrastructure. Smaller than the
// official PDS's list (reserved.ts there); the operator can still assign them (admin path).
const RESERVED_SUBDOMAINS: ReadonlySet<string> = new Set([
  'abuse', 'account', 'accounts', 'admin', 'administrator', 'api', 'app', 'atproto', 'auth', 'billing',
  'blog', 'bluesky', 'bsky', 'cdn', 'dev', 'dns', 'docs', 'email', 'feed', 'feeds', 'ftp', 'help',
  'hostmaster', 'imap', 'info', 'jetstream', 'legal', 'login', 'mail', 'moderation', 'moderator',
  'mod', 'news', 'noreply', 'no-reply', 'oauth', 'official', 'ozone', 'pds', 'plc', 'pop', 'postmaster',
  'press', 'privacy', 'relay', 'root', 'security', 'smtp', 'staff', 'status', 'support', 'sysadmin',
  'system', 'team', 'terms', 'test', 'tos', 'webmaster', 'www',
])

/** Lower-cases and checks handle syntax: 400 InvalidHandle. */
export function normalizeHandleSyntax(raw: string): string {
  const handle = raw.toLowerCase()
  if (!isValidHandle(handle)) throw invalidRequest('Handle is invalid', 'InvalidHandle')
  return handle
}

/** The service handle domain (`.example.com`) `handle` is under, if any. */
type HandleServices = Pick<
  CoreServices,
  'accounts' | 'config' | 'didResolver' | 'handleResolver' | 'logger' | 'plc' | 'plcRotationKey' | 'sequencer'
>

export function serviceDomainOf(s: HandleServices, handle: string): string | undefined {
  return s.config.identity.serviceHandleDomains.find((d) => handle.endsWith(d))
}

export interface HandleRules {
  /** The account the handle is for; required for a handle outside the service domains. */
  did?: string
  /** The operator's rules (admin.updateAccountHandle): reserved names allowed. */
  allowAnyValid?: boolean
}

/**
 * The official normalizeAndValidateHandle: valid syntax and TLD; under a service domain
 * `<3–18 characters without dots>.<domain>` and not reserved (unless allowAnyValid); any other
 * domain only for a known DID, and only when it already resolves to that DID (DNS TXT
 * `_atproto.<handle>` or `https://<handle>/.well-known/atproto-did`). Returns it lower-cased.
 */
export async function normalizeAndValidateHandle(s: HandleServices, raw: string, rules: HandleRules = {}): Promise<string> {
  const handle = normalizeHandleSyntax(raw)
  if (!isValidTld(handle)) throw invalidRequest('Handle TLD is invalid or disallowed', 'InvalidHandle')
  const domain = serviceDomainOf(s, handle)
  if (domain !== undefined) {
    const front = handle.slice(0, handle.length - domain.length)
    if (front.includes('.')) throw invalidRequest('Invalid characters in handle', 'InvalidHandle')
    if (front.length < 3) throw invalidRequest('Handle too short', 'InvalidHandle')
    if (front.length > 18) throw invalidRequest('Handle too long', 'InvalidHandle')
    if (!rules.allowAnyValid && RESERVED_SUBDOMAINS.has(front)) throw invalidRequest('Reserved handle', 'HandleNotAvailable')
    return handle
  }
  if (rules.did === undefined) throw invalidRequest('Not a supported handle domain', 'UnsupportedDomain')
  const resolved = await s.handleResolver.resolve(handle).catch(() => undefined)
  if (resolved !== rules.did) throw invalidRequest('External handle did not resolve to DID')
  return handle
}

export interface UpdateHandleOptions {
  /** The operator's change (admin.updateAccountHandle): reserved service-domain names allowed. */
  allowAnyValid?: boolean
}

/**
 * Gives `did` the handle `raw` (validated and normalized here), as the official updateHandle /
 * admin.updateAccountHandle: 400 HandleNotAvailable "Handle already taken: <h>" (official 0.5) when another account holds it; a
 * did:plc document gets a PLC operation (signed with the PDS rotation key) naming the new
 * handle; a did:web document must already name it (400 "DID is not properly configured for
 * handle"). Then the row changes, the cached DID document is dropped and `#identity` is
 * sequenced — also when the account already had this handle, which lets a user make relays
 * re-check it. Returns the normalized handle.
 */
export async function updateAccountHandle(s: HandleServices, did: string, raw: string, opts: UpdateHandleOptions = {}): Promise<string> {
  const handle = await normalizeAndValidateHandle(s, raw, { did, allowAnyValid: opts.allowAnyValid })
  const all = { includeDeactivated: true, includeTakenDown: true }
  const holder = s.accounts.getAccount(handle, all)
  if (holder && holder.did !== did) throw invalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
  if (!holder) {
    if (!s.accounts.getAccount(did, all)) throw invalidRequest(`Account does not exist: ${did}`)
    if (did.startsWith('did:plc:')) await updatePlcHandle(s, did, handle)
    else await assertDidDocClaims(s, did, handle)
    try {
      s.accounts.updateHandle(did, handle)
    } catch (err) {
      // Another account took it while the DID document was being updated.
      if (err instanceof AccountConflictError) throw invalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
      throw err
    }
    s.didResolver.invalidate(did)
  }
  try {
    s.sequencer.append([identityEvent(did, handle)])
  } catch (err) {
    // As official: the handle has changed; a lost event is logged, not reported as a failure.
    s.logger.error({ did, handle, err: String(err) }, 'failed to sequence handle update')
  }
  return handle
}

async function updatePlcHandle(s: HandleServices, did: string, handle: string): Promise<void> {
  const lastOp = await s.plc.getLastOp(did)
  let op
  try {
    op = await updateHandleOp(lastOp, s.plcRotationKey, handle)
  } catch (err) {
    if (err instanceof DidTombstonedError) throw invalidRequest('Did is tombstoned')
    throw err
  }
  try {
    await s.plc.sendOperation(did, op)
  } catch (err) {
    // E.g. the user has taken this PDS's key out of the DID's rotation keys.
    if (err instanceof PlcRequestError) throw invalidRequest(`PLC directory refused the handle update: ${err.message}`)
    throw err
  }
}

async function assertDidDocClaims(s: HandleServices, did: string, handle: string): Promise<void> {
  const doc = await s.didResolver.resolveAtprotoData(did, true).catch(() => undefined)
  if (doc?.handle.toLowerCase() !== handle) throw invalidRequest('DID is not properly configured for handle')
}
