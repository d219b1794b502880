// Conflicts the account store reports as values a handler maps to its own message (the official
// handlers word them differently: "Handle already taken: x", "This email address is already in
// use…"), rather than as XRPC errors.

export type ConflictField = 'did' | 'handle' | 'email' | 'appPassword'

export class AccountConflictError extends Error {
  constructor(readonly field: ConflictField) {
    super(field === 'appPassword' ? 'app password name already in use' : `${field} already in use`)
    this.name = 'AccountConflictError'
  }
}
