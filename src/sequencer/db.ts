// sequencer.sqlite: the ordered event log the firehose serves, with the official schema so the
// official PDS and Hearth can each continue the other's `seq`.
import { type Db, type MigrationSet, migrate } from '../storage/sqlite.ts'

export const sequencerMigrations: MigrationSet = {
  official: [
    {
      name: '001',
      up(db) {
        db.exec(`
          CREATE TABLE "repo_seq" (
            "seq" integer primary key autoincrement,
            "did" varchar not null,
            "eventType" varchar not null,
            "event" blob not null,
            "invalidated" int2 default 0 not null,
            "sequencedAt" varchar not null
          );
          CREATE INDEX "repo_seq_did_idx" ON "repo_seq" ("did");
          CREATE INDEX "repo_seq_event_type_idx" ON "repo_seq" ("eventType");
          CREATE INDEX "repo_seq_sequenced_at_index" ON "repo_seq" ("sequencedAt");
        `)
      },
    },
  ],
}

export function migrateSequencerDb(db: Db): void {
  migrate(db, sequencerMigrations)
}
