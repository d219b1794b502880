// Identity failures, named for what a caller must do about them: a DID that positively does not
// exist (DidNotFoundError) is a different answer from a directory that could not be reached
// (PlcUnavailableError), and handlers map them to different XRPC errors.

export class IdentityError extends Error {
  override name = 'IdentityError'
}

/** The DID does not exist (PLC 404, including a tombstoned DID; did:web document missing). */
export class DidNotFoundError extends IdentityError {
  override name = 'DidNotFoundError'
  constructor(
    readonly did: string,
    message?: string,
  ) {
    super(message ?? `Could not resolve DID: ${did}`)
  }
}

/** The PLC directory could not answer: network failure, timeout or a 5xx. Worth retrying later. */
export class PlcUnavailableError extends IdentityError {
  override name = 'PlcUnavailableError'
  constructor(
    message: string,
    /** The HTTP status when the directory answered with one (5xx); undefined for network errors. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** The PLC directory refused the request (4xx other than 404): an invalid or conflicting operation. */
export class PlcRequestError extends IdentityError {
  override name = 'PlcRequestError'
  constructor(
    readonly status: number,
    /** The directory's own `message`, when it sent one. */
    message: string,
  ) {
    super(message)
  }
}

export class PoorlyFormattedDidError extends IdentityError {
  override name = 'PoorlyFormattedDidError'
  constructor(readonly did: string) {
    super(`Poorly formatted DID: ${did}`)
  }
}

export class UnsupportedDidMethodError extends IdentityError {
  override name = 'UnsupportedDidMethodError'
  constructor(readonly did: string) {
    super(`Unsupported DID method: ${did}`)
  }
}

export class UnsupportedDidWebPathError extends IdentityError {
  override name = 'UnsupportedDidWebPathError'
  constructor(readonly did: string) {
    super(`Unsupported did:web paths: ${did}`)
  }
}

export class PoorlyFormattedDidDocumentError extends IdentityError {
  override name = 'PoorlyFormattedDidDocumentError'
  constructor(
    readonly did: string,
    reason: string,
  ) {
    super(`Poorly formatted DID Document for ${did}: ${reason}`)
  }
}

/** A DID resolution that failed for a reason other than "not found" (network, timeout, refusal). */
export class DidResolutionError extends IdentityError {
  override name = 'DidResolutionError'
  constructor(
    readonly did: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** A PLC update was asked for on top of a tombstone: the DID is permanently deactivated. */
export class DidTombstonedError extends IdentityError {
  override name = 'DidTombstonedError'
  constructor(readonly did?: string) {
    super(did ? `DID is tombstoned: ${did}` : 'DID is tombstoned')
  }
}
