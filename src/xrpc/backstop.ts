// The last resort for an exception or a promise rejection that no code handled. Each one is a
// bug: every stream and promise on a request's path has its own error path, and that is the
// fix. This only keeps one such bug in one request from ending the process, and with it every
// other request being served, and says which request it came from.
//
// It is installed by the server's start-up, once per process, never by library code: a process
// that merely imports Hearth's modules (a test runner, a tool) keeps its own handling.
//
// HEARTH_BACKSTOP_LOG=<file>: each error that reaches the backstop is also appended there as a
// JSON line. The test runner sets it to prove that no request of the suite ever gets here. It
// is read from the process environment, not the server config: the backstop is the process's.
import { AsyncLocalStorage } from 'node:async_hooks'
import { appendFileSync } from 'node:fs'
import type { Logger } from '../logger.ts'

/** What the backstop says about the request an error belonged to. */
export interface RequestTag {
  id: number
  method: string
  path: string
}

/** The request being served, for anything that runs on its behalf (callbacks, promises, timers). */
export const requestScope = new AsyncLocalStorage<RequestTag>()

let nextRequestId = 1

/** Runs `fn` (a request's handling) with its tag in scope. */
export function inRequestScope<T>(method: string, path: string, fn: () => T): T {
  return requestScope.run({ id: nextRequestId++, method, path }, fn)
}

let installed = false

/** Installs the process-wide handlers (the first call does; later ones do nothing). */
export function installBackstop(logger: Logger): void {
  if (installed) return
  installed = true
  const file = process.env.HEARTH_BACKSTOP_LOG || null
  const report = (kind: 'uncaughtException' | 'unhandledRejection', err: unknown) => {
    const request = requestScope.getStore() ?? null
    const where = request ? `request ${request.id} (${request.method} ${request.path})` : 'no request'
    const msg = `${kind} in ${where}: a bug, caught by the last-resort handler; the server keeps serving`
    try {
      if (logger.isLevelEnabled('fatal')) logger.fatal({ err, request }, msg)
      // With logging off, stderr still gets it, as it would have got the crash.
      else process.stderr.write(`hearth: ${msg}\n${describe(err)}\n`)
      if (file) {
        const line = { time: new Date().toISOString(), pid: process.pid, kind, request, error: describe(err) }
        appendFileSync(file, JSON.stringify(line) + '\n')
      }
    } catch {
      // Reporting must not throw from here: that would end the process after all.
    }
  }
  process.on('uncaughtException', (err) => report('uncaughtException', err))
  process.on('unhandledRejection', (reason) => report('unhandledRejection', reason))
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`
  try {
    return `non-error thrown: ${JSON.stringify(err)}`
  } catch {
    return `non-error thrown: ${String(err)}`
  }
}
