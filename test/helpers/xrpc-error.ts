// An `assert.throws` / `assert.rejects` matcher for the XRPC error a call must raise.
import assert from 'node:assert/strict'
import { XrpcError } from '../../src/xrpc/errors.ts'

export function xrpcError(status: number, error: string, message?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof XrpcError, `expected XrpcError, got ${String(err)}`)
    assert.equal(err.status, status, `${err.error}: ${err.message}`)
    assert.equal(err.error, error)
    if (message !== undefined) assert.equal(err.message, message)
    return true
  }
}
