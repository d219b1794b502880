// The official two-part keyset cursor `<primary>::<secondary>` of the account tables' listings
// (admin.getInviteCodes, sync.listRepos).
import { invalidRequest } from '../errors.ts'

/** Null without a cursor; 400 "Malformed cursor" on a bad one. */
export function unpackCursor(cursor: string | undefined): { primary: string; secondary: string } | null {
  if (!cursor) return null
  const parts = cursor.split('::')
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw invalidRequest('Malformed cursor')
  return { primary: parts[0], secondary: parts[1] }
}
