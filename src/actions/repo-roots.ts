// The account table's copy of each repo's head (repo_root) follows the event log, written in
// batches behind it (account/repo-root.ts). At start, the heads of the commits the log holds past
// the seq the table is known to reach (a crash cut off their batch) are written; from then on
// every appended event that moves a head (#commit, #sync) is noted as the log appends it, whoever
// appended it (the write path, activation, account creation, or the replay of an actor store's
// outbox).
import type { CoreServices } from '../core-services.ts'

export function followRepoRoots(s: Pick<CoreServices, 'accounts' | 'sequencer'>): void {
  const seq = s.accounts.repoRootSeq()
  if (seq === null) {
    // The first start with this bookkeeping, or a directory the official PDS kept (it writes
    // repo_root on every commit): the table is current up to the log's end. Recorded even when
    // the log is empty (a new data directory): otherwise a crash before the first batch was
    // written would leave no seq, and the next start would take the table as current.
    s.accounts.setRepoRootSeq(s.sequencer.lastSeq() ?? 0)
  } else {
    const rows = s.sequencer.lastHeadEventsAfter(seq)
    if (rows.length > 0) {
      s.accounts.noteHeadEvents(rows)
      s.accounts.flushRepoRoots()
    }
  }
  s.sequencer.on('events', (rows) => s.accounts.noteHeadEvents(rows))
}
