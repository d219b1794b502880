// The XRPC error a call must raise: an `assert.throws` / `assert.rejects` matcher for Hearth's
// own errors, and what a client call (@atproto/api) rejected with.
import assert from 'node:assert/strict'
import { XrpcError } from '../../src/errors.ts'

export function xrpcError(status: number, error: string, message?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof XrpcError, `expected XrpcError, got ${String(err)}`)
    assert.equal(err.status, status, `${err.error}: ${err.message}`)
    assert.equal(err.error, error)
    if (message !== undefined) assert.equal(err.message, message)
    return true
  }
}

/** The XRPC error a client call rejects with (fails the test if the call succeeds). */
export async function clientFailure(p: Promise<unknown>): Promise<{ status: number; error: string; message: string }> {
  try {
    await p
  } catch (err) {
    const e = err as { status?: number; error?: string; message?: string }
    return { status: e.status ?? 0, error: e.error ?? '', message: e.message ?? '' }
  }
  assert.fail('expected the call to fail')
}
