// Creating a hosted account, end to end: a signing key and an empty signed repo, the did:plc
// genesis operation (or an existing DID moving in), the account row with its first session, and
// the firehose events that announce it — in an order where a failure leaves nothing behind.
import { initRepo } from '../actor/transactor.ts'
import { hashPassword } from '../auth/password.ts'
import type { SessionTokens } from '../auth/session.ts'
import { createGenesisOp } from '../identity/plc-ops.ts'
import { Secp256k1Keypair } from '../repo/crypto/index.ts'
import { accountEvent, commitEvent, identityEvent, syncEvent } from '../sequencer/events.ts'
import type { CoreServices } from '../core-services.ts'
import { AccountConflictError } from '../account/errors.ts'
import { accountCreated, sessionCreated } from '../metrics/index.ts'

export interface NewAccount {
  handle: string
  email: string
  password: string
  inviteCode?: string | null
  /** An existing DID moving in (the caller has checked its service auth). */
  did?: string
  /** A did:key the user keeps as a PLC rotation key. */
  recoveryKey?: string
}

export interface CreatedAccount extends SessionTokens {
  did: string
  handle: string
  signingKey: string
}

type CreateAccountServices = Pick<
  CoreServices,
  'accounts' | 'actors' | 'config' | 'didCache' | 'plc' | 'plcRotationKey' | 'sequencer' | 'sessions'
>

export async function createHostedAccount(s: CreateAccountServices, input: NewAccount): Promise<CreatedAccount> {
  const keypair = Secp256k1Keypair.create()
  let did = input.did
  let genesis: Awaited<ReturnType<typeof createGenesisOp>>['op'] | null = null
  if (!did) {
    const recoveryKeys = [input.recoveryKey, s.config.identity.recoveryDidKey].filter((k): k is string => !!k)
    const created = await createGenesisOp({
      signingKey: keypair.did(),
      handle: input.handle,
      pdsEndpoint: s.config.service.publicUrl,
      rotationKey: s.plcRotationKey,
      recoveryKeys,
    })
    did = created.did
    genesis = created.op
  }
  const passwordHash = await hashPassword(input.password)
  // No await between this check and the store's creation: of two signups racing for one DID
  // (a retried migration step), the second gets the conflict, not a failed create.
  if (s.actors.exists(did)) throw new AccountConflictError('did')
  const store = s.actors.create(did, keypair)
  try {
    const commit = initRepo(store)
    if (genesis) await s.plc.sendOperation(did, genesis)
    const { refreshToken, ...tokens } = s.sessions.prepareAccountSession(did)
    s.accounts.createAccount({
      did,
      handle: input.handle,
      email: input.email,
      passwordHash,
      repoCid: commit.cid.$link,
      repoRev: commit.rev,
      inviteCode: input.inviteCode ?? null,
      deactivated: !genesis,
      refreshToken,
    })
    if (genesis) {
      s.sequencer.append([
        identityEvent(did, input.handle),
        accountEvent(did, 'active'),
        commitEvent(commit),
        syncEvent(did, commit.rev, commit.cid, commit.bytes),
      ])
    }
    s.didCache.clear(did)
    // The official's label values: the XRPC method, and whether the DID is moving in.
    accountCreated.inc({ source: 'com.atproto.server.createAccount', deactivated: String(!genesis) })
    sessionCreated.inc({ source: 'com.atproto.server.createAccount' })
    return { did, handle: input.handle, signingKey: keypair.did(), ...tokens }
  } catch (err) {
    s.actors.destroy(did)
    throw err
  }
}
