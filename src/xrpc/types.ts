// The contract between the XRPC router and the method handlers in src/api/.
//
// A handler file exports a function that takes the few services it uses and returns a
// XrpcMethod. The router looks the method up by NSID, runs its auth verifier, parses and
// validates params and input against the method's lexicon, calls the handler, and writes the
// output (validated too in tests and dev mode).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { AuthResult } from './auth-result.ts'

export interface XrpcRequestInfo {
  nsid: string
  req: IncomingMessage
  /** Client address (after trusted-proxy handling). */
  ip: string
  /**
   * The validated query params, when the router has them: set for registered methods (params
   * are checked before auth, as in the official PDS), absent for the fallback.
   */
  params?: Record<string, unknown>
  /** The response, for verifiers that set headers on it (the OAuth verifier's DPoP-Nonce); absent for the fallback. */
  res?: ServerResponse
}

export interface XrpcContext<A extends AuthResult = AuthResult> extends XrpcRequestInfo {
  /** Query params, validated and coerced (integers, booleans, arrays) per the lexicon. */
  params: Record<string, unknown>
  /** A JSON body, parsed and validated; undefined for a binary body or none. */
  input: unknown
  /** The request body stream, for methods whose input is not JSON (uploadBlob, importRepo). */
  body: Readable | null
  /** The request's content type (without parameters), or null. */
  encoding: string | null
  auth: A
  res: ServerResponse
}

export type XrpcOutput =
  | void
  // \`body\`: a value to stringify, or JSON text the handler wrote itself, as bytes (sent as they are).
  | { encoding: 'application/json'; body: unknown; headers?: Record<string, string>; passthrough?: boolean }
  | {
      encoding: string
      /** Bytes, or a stream / async iterable the router pipes with backpressure. */
      body: Uint8Array | Readable | AsyncIterable<Uint8Array>
      headers?: Record<string, string>
      /**
       * An upstream's answer forwarded as it is: the upstream's output, not this server's, so
       * response validation leaves it alone (as the official does for pipe-through outputs).
       */
      passthrough?: boolean
      /**
       * Called once the response is done with `body` (every byte handed to the socket, or the
       * connection gone, or the answer not sent at all): for bytes in a buffer that is reused.
       */
      onClose?: () => void
    }

/** Verifies a request's credentials; throws an XrpcError (401/400/403) when it must refuse. */
export type AuthVerifier<A extends AuthResult = AuthResult> = (info: XrpcRequestInfo) => A | Promise<A>

export interface RateLimit {
  name: string
  durationMs: number
  points: number
  /**
   * What the limit is keyed on; default the client IP. Null skips this limit for the call.
   * Limits with the same name share one counter across methods (the official's shared
   * `repo-write-hour` / `repo-write-day`); they must agree on durationMs and points.
   */
  key?: (ctx: XrpcContext) => string | null
  /** Points a call costs; default 1; below 1 skips this limit for the call. */
  cost?: (ctx: XrpcContext) => number
}

export interface XrpcMethod<A extends AuthResult = AuthResult> {
  nsid: string
  auth: AuthVerifier<A>
  handler: (ctx: XrpcContext<A>) => XrpcOutput | Promise<XrpcOutput>
  /** Max JSON body bytes (default 150 KiB, as the official PDS). */
  jsonLimit?: number
  /** Max binary body bytes (uploadBlob, importRepo). */
  blobLimit?: number
  rateLimits?: RateLimit[]
}
