// Moving an account in from another PDS, run by this server for a person in a browser: the
// documented migration (service auth from the old PDS, createAccount here with the existing
// DID, getRepo → importRepo, the missing blobs, preferences, the PLC operation signed by the old
// PDS with the emailed code and submitted here, activation here, deactivation there).
//
// Every step here is a call to this server's own XRPC method (move-in-client.ts), so the rules
// are the API's. Each step is safe to run again, and a row (src/account/move-in-store.ts) records
// the last one finished: a move stopped anywhere (browser closed, server restarted, old PDS
// down) resumes from there. The account here stays deactivated until the DID document names
// this server; the old one is deactivated only after that. The old PDS's tokens and the
// passwords are held in memory only, while the move needs them (dropped when it ends or after an
// hour without use); a restart forgets them and the person signs in again to resume.
import type { CoreServices } from '../core-services.ts'
import { getPdsEndpoint } from '../identity/did-doc.ts'
import { SafeFetchError, SsrfError } from '../identity/safe-fetch.ts'
import { MOVE_IN_STEPS, type MoveInRow, type MoveInStep, MoveInStore } from '../account/move-in-store.ts'
import { removeAccount } from './delete-account.ts'
import { MoveInCallError, OldPds, ThisPds } from './move-in-client.ts'

export type MoveInServices = Pick<CoreServices, 'accounts' | 'actors' | 'blobs' | 'config' | 'didResolver' | 'handleResolver' | 'logger' | 'sequencer'>

/** A refusal to show the person, in plain words. */
export class MoveInError extends Error {
  override name = 'MoveInError'
}

export interface MoveInStart {
  /** Handle or DID on the old PDS. */
  identifier: string
  oldPassword: string
  /** The password the account gets here (the old one when left empty). */
  herePassword?: string
  /** A sign-in code the old PDS emailed, when it asks for one. */
  authFactorToken?: string
  handle: string
  email: string
  inviteCode?: string
  clientIp: string
}

interface Live {
  old: OldPds
  here: ThisPds
  herePassword: string
  running: Promise<void> | null
  /** Set by a cancel: the background steps stop at the next step (or blob). */
  cancelled: boolean
  /** The PLC operation the old PDS signed, until submitted here. */
  signed?: unknown
  expiry: NodeJS.Timeout | null
}

const IDLE_MS = 60 * 60_000
const BLOB_PAGE = 100

const after = (step: MoveInStep, than: MoveInStep) => MOVE_IN_STEPS.indexOf(step) > MOVE_IN_STEPS.indexOf(than)

export class MoveIn {
  readonly store: MoveInStore
  readonly #live = new Map<string, Live>()
  readonly #locks = new Map<string, Promise<void>>()
  readonly #allowPrivate: boolean

  constructor(
    readonly s: MoveInServices,
    /** This server's own address for its XRPC calls (its listening port on loopback). */
    readonly selfUrl: string,
  ) {
    this.store = new MoveInStore(s.accounts.db)
    // Whatever was running when the server stopped has lost its credentials: it waits to be resumed.
    this.store.markInterrupted()
    const c = s.config
    this.#allowPrivate = c.service.devMode || c.fetch.disableSsrfProtection || c.service.localMode
  }

  /** Whether this server holds what it needs to go on without asking for the passwords again. */
  hasCredentials(did: string): boolean {
    return this.#live.has(did)
  }

  isRunning(did: string): boolean {
    return this.#live.get(did)?.running != null
  }

  /**
   * Starts a move, or takes up an earlier one for the same DID (a browser that lost its page),
   * after the old PDS accepted the password either way; createAccount here runs before this
   * returns (its refusals go back to the form), the rest in the background.
   */
  async begin(input: MoveInStart, browserKey: string): Promise<MoveInRow> {
    const { did, pds } = await this.locate(input.identifier)
    return this.#exclusive(did, async () => {
      const existing = this.store.get(did)
      if (existing) {
        const live = this.#newLive(existing.oldPds, input)
        await this.#signInOld(live, did, input).catch((err: unknown) => {
          throw plain(err, existing.oldPds)
        })
        this.store.start(existing, browserKey)
        if (existing.state === 'done' || this.isRunning(did)) {
          // The password was only checked: the move already has (or needs no more) sessions.
          await live.old.signOut()
          return this.store.get(did) as MoveInRow
        }
        try {
          await this.#continue(did, live)
        } catch (err) {
          if (this.#live.get(did) !== live) await live.old.signOut()
          throw err
        }
        return this.store.get(did) as MoveInRow
      }
      if (pds === this.s.config.service.publicUrl) throw new MoveInError('This account already lives on this server.')
      // A did:web identity is moved by editing its did.json, which no server can sign for it.
      if (!did.startsWith('did:plc:')) {
        throw new MoveInError('This page moves did:plc accounts. A did:web account moves by pointing its did.json at this server; use a migration tool for the rest.')
      }
      const handle = input.handle.trim().toLowerCase()
      const email = input.email.trim()
      if (!handle) throw new MoveInError('Choose the handle your account will have here.')
      if (!email) throw new MoveInError('Enter your email address.')
      const live = this.#newLive(pds, input)
      try {
        await this.#signInOld(live, did, input)
        this.#install(did, live)
        const row = this.store.start({ did, oldPds: pds, handle, email, inviteCode: input.inviteCode?.trim() || null }, browserKey)
        try {
          await this.#createAccount(live, row)
        } catch (err) {
          // Nothing was created here: the form can be sent again as if this never started.
          this.store.forget(did)
          throw err
        }
        this.#launch(did)
        return this.store.get(did) as MoveInRow
      } catch (err) {
        this.#drop(did)
        throw plain(err, pds)
      }
    })
  }

  /** Goes on with a stopped move of this browser, with the held sessions or, given credentials, new ones. */
  async resume(did: string, creds: Pick<MoveInStart, 'oldPassword' | 'herePassword' | 'authFactorToken' | 'clientIp'> | null): Promise<void> {
    return this.#exclusive(did, async () => {
      const row = this.store.get(did)
      if (!row) throw new MoveInError('There is no move of this account to resume. Start again.')
      if (row.state === 'done' || this.isRunning(did)) return
      // New credentials replace the held sessions (e.g. the account password after an app password the old server refused a step to).
      let live = creds ? undefined : this.#live.get(did)
      if (!live) {
        if (!creds) throw new MoveInError('Sign in again to go on: this server no longer holds your sessions.')
        live = this.#newLive(row.oldPds, creds)
        await this.#signInOld(live, did, creds).catch((err: unknown) => {
          throw plain(err, row.oldPds)
        })
      }
      try {
        await this.#continue(did, live)
      } catch (err) {
        // Sessions opened for a resume that could not go on are not kept.
        if (this.#live.get(did) !== live) await live.old.signOut()
        throw err
      }
    })
  }

  /** Runs `fn` after any other start or resume of the same DID (a second click waits for the first). */
  #exclusive<T>(did: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(did) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const tail = next.then(
      () => {},
      () => {},
    )
    this.#locks.set(did, tail)
    void tail.then(() => {
      if (this.#locks.get(did) === tail) this.#locks.delete(did)
    })
    return next
  }

  /** Makes `live` the move's sessions (signing in here once the account exists) and goes on from the row's step. */
  async #continue(did: string, live: Live): Promise<void> {
    const row = this.store.get(did) as MoveInRow
    if (this.#live.get(did) !== live) {
      try {
        if (after(row.step, 'started')) await live.here.signIn(did, live.herePassword)
      } catch (err) {
        throw plain(err, row.oldPds)
      }
      this.#install(did, live)
    }
    this.#touch(did)
    if (row.step === 'started') {
      try {
        await this.#createAccount(live, row)
      } catch (err) {
        this.store.update(did, { state: 'stopped', error: plain(err, row.oldPds).message })
        throw plain(err, row.oldPds)
      }
    }
    this.#launch(did)
  }

  /** The emailed code: the old PDS signs the operation that points the DID here; the rest runs in the background. */
  submitCode(did: string, code: string): Promise<void> {
    return this.#exclusive(did, () => this.#submitCode(did, code))
  }

  async #submitCode(did: string, code: string): Promise<void> {
    const row = this.store.get(did)
    if (!row) throw new MoveInError('There is no move of this account. Start again.')
    // A second click, or a code for a move already past this step: nothing to do.
    if (row.step !== 'code-sent' || this.isRunning(did)) return
    const live = this.#live.get(did)
    if (!live) throw new MoveInError('Sign in again to go on: this server no longer holds your sessions.')
    this.#touch(did)
    const token = code.trim()
    if (!token) throw new MoveInError('Enter the code from the email your old server sent.')
    try {
      const creds = await live.here.call('GET', 'com.atproto.identity.getRecommendedDidCredentials')
      const signed = await live.old.call('POST', 'com.atproto.identity.signPlcOperation', { json: { token, ...creds } })
      live.signed = (signed as { operation: unknown }).operation
    } catch (err) {
      const e = plain(err, row.oldPds)
      this.store.update(did, { error: e.message })
      throw e
    }
    this.store.update(did, { state: 'running', error: null })
    this.#launch(did)
  }

  /** Asks the old PDS for a new code (the previous one expired or was lost). */
  resendCode(did: string): Promise<void> {
    return this.#exclusive(did, () => this.#resendCode(did))
  }

  async #resendCode(did: string): Promise<void> {
    const row = this.store.get(did)
    const live = this.#live.get(did)
    if (!row || row.step !== 'code-sent') return
    if (!live) throw new MoveInError('Sign in again to go on: this server no longer holds your sessions.')
    this.#touch(did)
    try {
      await live.old.call('POST', 'com.atproto.identity.requestPlcOperationSignature')
    } catch (err) {
      throw plain(err, row.oldPds)
    }
    this.store.update(did, { state: 'code', error: null })
  }

  /**
   * Gives the move up, before the account here is activated: the background steps stop, the
   * sessions on the old PDS are ended, the inactive account created here is deleted as a
   * deletion removes an account (rows, repo, blobs, events) and the move's row goes; the old
   * account was never touched. Refused once the DID document names this server: from then the
   * account here is the one the network follows, and deleting it would leave the DID pointing
   * nowhere.
   */
  cancel(did: string): Promise<void> {
    return this.#exclusive(did, () => this.#cancel(did))
  }

  async #cancel(did: string): Promise<void> {
    const refused = 'This move can no longer be cancelled: your identity already points to this server. Finish the move here; to leave, move your account to another server from your account page.'
    const row = this.store.get(did)
    if (!row) throw new MoveInError('There is no move of this account to cancel.')
    if (after(row.step, 'code-sent')) throw new MoveInError(refused)
    const live = this.#live.get(did)
    if (live) {
      live.cancelled = true
      await live.running
    }
    const now = this.store.get(did)
    // The steps that were running may have pointed the DID here before they stopped.
    if (!now || after(now.step, 'code-sent') || (await this.#resolvesHere(did))) {
      if (live) live.cancelled = false
      if (now && live && now.state === 'running') this.#launch(did)
      throw new MoveInError(refused)
    }
    if (live) {
      await live.old.signOut()
      this.#drop(did, { signOut: true })
    }
    const account = this.s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
    // An account active here that the move did not activate (its DID elsewhere) is not the move's to delete.
    if (account && !account.deactivatedAt) throw new MoveInError('This account is active on this server: there is no move to cancel.')
    if (account) await removeAccount(this.s, did)
    this.store.forget(did)
  }

  async #resolvesHere(did: string): Promise<boolean> {
    let doc
    try {
      doc = await this.s.didResolver.resolve(did, true)
    } catch {
      // Deleting the account here while the DID might name it would leave the DID pointing nowhere.
      throw new MoveInError('Could not check where your identity points now. Try again in a moment.')
    }
    const pds = doc ? getPdsEndpoint(doc) : undefined
    if (!pds) return false
    try {
      return new URL(pds).origin === new URL(this.s.config.service.publicUrl).origin
    } catch {
      return false
    }
  }

  /** Resolves when the background steps stop (done, waiting for the code, or stopped), or after `ms`. */
  async idle(did: string, ms: number): Promise<void> {
    const running = this.#live.get(did)?.running
    if (!running) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([running, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))])
    clearTimeout(timer)
  }

  /** Stops holding every session (server shutdown). */
  close(): void {
    for (const did of [...this.#live.keys()]) this.#drop(did)
  }

  /** The DID and its current PDS, from a handle or a DID. */
  async locate(identifier: string): Promise<{ did: string; pds: string }> {
    const id = identifier.trim().replace(/^@/, '').toLowerCase()
    if (!id) throw new MoveInError('Enter your handle or DID.')
    let did: string | undefined
    if (id.startsWith('did:')) did = identifier.trim()
    else {
      try {
        did = await this.s.handleResolver.resolve(id)
      } catch {
        did = undefined
      }
      if (!did) throw new MoveInError(`The handle ${id} could not be found. Check it, or enter your DID instead.`)
    }
    let doc
    try {
      doc = await this.s.didResolver.resolve(did, true)
    } catch {
      doc = null
    }
    if (!doc) throw new MoveInError(`The DID ${did} could not be resolved.`)
    const pds = getPdsEndpoint(doc)
    if (!pds) throw new MoveInError('Your DID document names no PDS to move from.')
    let url: URL
    try {
      url = new URL(pds)
    } catch {
      throw new MoveInError('Your DID document names a PDS address that is not a URL.')
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new MoveInError('Your DID document names a PDS address that is not http(s).')
    return { did, pds: url.origin }
  }

  #newLive(oldPds: string, creds: Pick<MoveInStart, 'oldPassword' | 'herePassword' | 'clientIp'>): Live {
    return {
      old: new OldPds(oldPds, this.#allowPrivate),
      here: new ThisPds(this.selfUrl, creds.clientIp),
      herePassword: creds.herePassword || creds.oldPassword,
      running: null,
      cancelled: false,
      expiry: null,
    }
  }

  /** Holds `live` as the move's sessions (replacing earlier ones) until the move ends or an hour passes unused. */
  #install(did: string, live: Live): void {
    // The sessions it replaces (a browser that lost its page signed in again) are ended.
    this.#drop(did, { signOut: true })
    live.expiry = setTimeout(() => this.#drop(did, { signOut: true }), IDLE_MS).unref()
    this.#live.set(did, live)
  }

  #touch(did: string): void {
    this.#live.get(did)?.expiry?.refresh()
  }

  /** Lets the move's sessions go; `signOut` ends them on both servers too (a finished or abandoned move). */
  #drop(did: string, o: { signOut?: boolean } = {}): void {
    const live = this.#live.get(did)
    if (!live) return
    if (live.expiry) clearTimeout(live.expiry)
    if (o.signOut) {
      void live.old.signOut()
      void live.here.signOut()
    }
    live.old.forget()
    live.here.forget()
    live.herePassword = ''
    this.#live.delete(did)
  }

  async #signInOld(live: Live, did: string, creds: Pick<MoveInStart, 'oldPassword' | 'herePassword' | 'authFactorToken'>): Promise<void> {
    if (!creds.oldPassword) throw new MoveInError('Enter your password on your old server.')
    let signedIn
    try {
      signedIn = await live.old.signIn(did, creds.oldPassword, creds.authFactorToken?.trim() || undefined)
    } catch (err) {
      if (err instanceof MoveInCallError && err.error === 'AuthFactorTokenRequired') {
        throw new MoveInError('Your old server emailed you a sign-in code: enter it in “Sign-in code” and send the form again.')
      }
      if (err instanceof MoveInCallError && (err.status === 401 || err.error === 'AuthenticationRequired')) {
        throw new MoveInError('Your old server refused the sign-in: check the handle and password.')
      }
      throw err
    }
    if (signedIn.did !== did) throw new MoveInError('Your old server signed in another account than the one named.')
    // An app password is no password to carry over: the account here needs one of its own.
    if (live.old.isAppPassword() && !creds.herePassword) {
      await live.old.signOut()
      throw new MoveInError('You signed in with an app password: choose a password for your account here, in “New password here”.')
    }
  }

  async #createAccount(live: Live, row: MoveInRow): Promise<void> {
    const auth = await live.old.call('GET', 'com.atproto.server.getServiceAuth', {
      params: { aud: this.s.config.service.did, lxm: 'com.atproto.server.createAccount' },
    })
    try {
      const created = await live.here.call('POST', 'com.atproto.server.createAccount', {
        json: { handle: row.handle, email: row.email, password: live.herePassword, did: row.did, ...(row.inviteCode ? { inviteCode: row.inviteCode } : {}) },
        bearer: (auth as { token: string }).token,
      })
      live.here.session = { accessJwt: created.accessJwt, refreshJwt: created.refreshJwt }
    } catch (err) {
      // An earlier attempt created it (the answer was lost): sign in to it instead.
      if (!(err instanceof MoveInCallError) || err.error !== 'AlreadyExists') throw err
      await live.here.signIn(row.did, live.herePassword)
      // An account already living here is never overwritten by an import.
      const status = (await live.here.call('GET', 'com.atproto.server.checkAccountStatus')) as { activated: boolean }
      if (status.activated) throw new MoveInError('This account is already active on this server.')
    }
    this.store.update(row.did, { step: 'created', inviteCode: null, state: 'running', error: null })
  }

  #launch(did: string): void {
    const live = this.#live.get(did)
    if (!live || live.running) return
    this.store.update(did, { state: 'running', error: null })
    live.running = this.#run(did, live)
      .catch((err: unknown) => {
        try {
          const row = this.store.get(did)
          const message = plain(err, row?.oldPds ?? '').message
          this.s.logger.warn({ did, step: row?.step, error: message }, 'move in stopped')
          this.store.update(did, { state: 'stopped', error: message })
        } catch {
          // The server is shutting down (its database closed): the next start marks the move interrupted.
        }
      })
      .finally(() => {
        live.running = null
      })
  }

  async #run(did: string, live: Live): Promise<void> {
    for (;;) {
      const row = this.store.get(did)
      if (!row || live.cancelled) return
      this.#touch(did)
      switch (row.step) {
        case 'started':
          await this.#createAccount(live, row)
          break
        case 'created': {
          await live.old.fresh()
          await live.here.fresh()
          const car = await live.old.stream('com.atproto.sync.getRepo', { params: { did } })
          await live.here.call('POST', 'com.atproto.repo.importRepo', { body: car.body, encoding: 'application/vnd.ipld.car', timeoutMs: 10 * 60_000 })
          this.store.update(did, { step: 'imported' })
          break
        }
        case 'imported':
          await this.#copyBlobs(did, live)
          this.store.update(did, { step: 'blobs' })
          break
        case 'blobs': {
          const prefs = await live.old.call('GET', 'app.bsky.actor.getPreferences')
          await live.here.call('POST', 'app.bsky.actor.putPreferences', { json: { preferences: (prefs as { preferences: unknown[] }).preferences } })
          this.store.update(did, { step: 'preferences' })
          break
        }
        case 'preferences': {
          // A resumed move whose DID already names this server skips the code.
          if (await this.#didNamesHere(live)) {
            this.store.update(did, { step: 'identity' })
            break
          }
          await live.old.call('POST', 'com.atproto.identity.requestPlcOperationSignature')
          this.store.update(did, { step: 'code-sent', state: 'code' })
          return
        }
        case 'code-sent': {
          // Resumed after the operation went through (its answer lost): no code needed again.
          if (!(await this.#didNamesHere(live))) {
            if (live.signed === undefined) {
              this.store.update(did, { state: 'code' })
              return
            }
            await live.here.call('POST', 'com.atproto.identity.submitPlcOperation', { json: { operation: live.signed } })
          }
          live.signed = undefined
          this.store.update(did, { step: 'identity' })
          break
        }
        case 'identity':
          await live.here.call('POST', 'com.atproto.server.activateAccount')
          this.store.update(did, { step: 'activated' })
          break
        case 'activated':
          try {
            await live.old.call('POST', 'com.atproto.server.deactivateAccount', { json: {} })
          } catch (err) {
            // Already deactivated there (a step retried after its answer was lost) is done.
            if (!(err instanceof MoveInCallError) || !/deactivated/i.test(err.message)) throw err
          }
          this.store.update(did, { step: 'done', state: 'done', error: null })
          this.#drop(did, { signOut: true })
          return
        case 'done':
          this.#drop(did, { signOut: true })
          return
      }
    }
  }

  async #didNamesHere(live: Live): Promise<boolean> {
    const status = (await live.here.call('GET', 'com.atproto.server.checkAccountStatus')) as { validDid: boolean }
    return status.validDid
  }

  async #copyBlobs(did: string, live: Live): Promise<void> {
    const count = async () => {
      const status = (await live.here.call('GET', 'com.atproto.server.checkAccountStatus')) as { expectedBlobs: number; importedBlobs: number }
      this.store.update(did, { blobsTotal: status.expectedBlobs, blobsDone: status.importedBlobs })
    }
    await count()
    let cursor: string | undefined
    for (;;) {
      const page = (await live.here.call('GET', 'com.atproto.repo.listMissingBlobs', { params: { limit: BLOB_PAGE, cursor } })) as {
        blobs: Array<{ cid: string }>
        cursor?: string
      }
      for (const b of page.blobs) {
        if (live.cancelled) return
        this.#touch(did)
        await live.here.fresh()
        const blob = await live.old.stream('com.atproto.sync.getBlob', { params: { did, cid: b.cid }, timeoutMs: 5 * 60_000 })
        await live.here.call('POST', 'com.atproto.repo.uploadBlob', { body: blob.body, encoding: blob.contentType ?? 'application/octet-stream', timeoutMs: 5 * 60_000 })
        await count()
      }
      if (!page.cursor || page.blobs.length === 0) return
      cursor = page.cursor
    }
  }
}

/** Any failure as words for the page (never a token: the client's errors carry the servers' messages only). */
function plain(err: unknown, oldPds: string): MoveInError {
  if (err instanceof MoveInError) return err
  if (err instanceof MoveInCallError) {
    const where = err.side === 'old' ? 'Your old server' : 'This server'
    return new MoveInError(`${where} refused a step: ${err.message}${err.error && err.error !== err.message ? ` (${err.error})` : ''}`)
  }
  if (err instanceof SsrfError) return new MoveInError(`Your old server's address (${oldPds}) is not one this server may reach.`)
  if (err instanceof SafeFetchError) return new MoveInError(`Could not reach your old server at ${oldPds} (${err.message}). Try again later.`)
  const message = err instanceof Error ? err.message : String(err)
  return new MoveInError(`The move stopped: ${message.slice(0, 200)}. Try again.`)
}
