// XRPC errors: every failure a client sees is `{ error, message }` with an HTTP status.
// Handlers throw these; the router turns anything else into a logged 500 without details.

export class XrpcError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? error)
    this.name = 'XrpcError'
  }

  toJSON(): { error: string; message: string } {
    return { error: this.error, message: this.message }
  }
}

export const invalidRequest = (message: string, error = 'InvalidRequest') => new XrpcError(400, error, message)
export const authRequired = (message = 'Authentication Required', error = 'AuthenticationRequired') =>
  new XrpcError(401, error, message)
export const forbidden = (message = 'Forbidden', error = 'Forbidden') => new XrpcError(403, error, message)
export const notFound = (message = 'Not Found', error = 'NotFound') => new XrpcError(404, error, message)
export const payloadTooLarge = (message = 'request entity too large') => new XrpcError(413, 'PayloadTooLarge', message)
export const methodNotImplemented = (message = 'Method Not Implemented') =>
  new XrpcError(501, 'MethodNotImplemented', message)
export const upstreamFailure = (message = 'Upstream Failure') => new XrpcError(502, 'UpstreamFailure', message)
export const internalError = (message = 'Internal Server Error') => new XrpcError(500, 'InternalServerError', message)
