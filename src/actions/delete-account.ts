// Removing a whole account from this PDS: what server.deleteAccount (and admin.deleteAccount)
// do once the request is authorized.
import type { CoreServices } from '../core-services.ts'
import { accountEvent } from '../sequencer/events.ts'

export type AccountRemovalServices = Pick<CoreServices, 'accounts' | 'actors' | 'blobs' | 'sequencer'>

/**
 * Deletes everything the PDS holds for `did`: the account rows (account, actor, repo_root,
 * sessions, app passwords, email tokens, OAuth rows), the actor store directory (repo, records,
 * signing key) and every blob file, then sequences `#account` {active: false, status: deleted}
 * and drops the account's earlier events from the log, as the official sequenceAccountDeletion
 * + deleteAllForUser do: a consumer replaying the firehose sees only that the account is gone.
 *
 * The rows go first (the official removes the files first): from that moment no login, token
 * or write can touch the account, so nothing re-creates files while they are being removed.
 * Invite codes and their uses stay, as official. The DID document is left as it is; a did:plc
 * account that wants to live elsewhere moves with its own rotation key.
 */
export async function removeAccount(s: AccountRemovalServices, did: string): Promise<void> {
  s.accounts.deleteAccount(did)
  s.actors.destroy(did)
  await s.blobs.deleteAll(did)
  const [row] = s.sequencer.append([accountEvent(did, 'deleted')])
  s.sequencer.deleteBefore(did, row.seq)
}
