// The periodic sweep of devices no one ever signed in on. A device row is made for every browser
// that opens an authorization or account page, signed in or not, so without a sweep the table
// grows with every visit (and with every scripted GET of /oauth/authorize). A device is worth
// keeping while an account is remembered on it or an authorization request it opened is still
// pending; past that, and once unseen for UNUSED_DEVICE_MAX_AGE_MS, it is deleted. A browser
// that comes back with its old cookie simply gets a new device. (The official never deletes
// devices.)
import type { Logger } from '../../logger.ts'
import type { DeviceStore } from './store.ts'

/** The official's EPHEMERAL_SESSION_MAX_AGE: longer than any sign-in flow lasts. */
export const UNUSED_DEVICE_MAX_AGE_MS = 15 * 60_000
const BATCH = 5000

export interface DeviceSweep {
  /** One pass (also what the timer runs); resolves with how many devices were deleted. */
  runOnce(): Promise<number>
  stop(): void
}

export function startDeviceSweep(store: DeviceStore, intervalMs: number, logger?: Logger): DeviceSweep {
  let running: Promise<number> | null = null
  const pass = async () => {
    const now = Date.now()
    const seenBefore = new Date(now - UNUSED_DEVICE_MAX_AGE_MS).toISOString()
    let total = 0
    for (;;) {
      const n = store.deleteUnused(seenBefore, new Date(now).toISOString(), BATCH)
      total += n
      if (n < BATCH) return total
      // A large backlog goes in batches, letting requests in between.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const runOnce = () => {
    running ??= pass()
      .catch((err: unknown) => {
        logger?.warn({ err: String(err) }, 'device sweep failed')
        return 0
      })
      .finally(() => {
        running = null
      })
    return running
  }
  const timer = setInterval(() => void runOnce(), intervalMs)
  timer.unref()
  return { runOnce, stop: () => clearInterval(timer) }
}
