// Accounts for the repo-method tests: through com.atproto.server.createAccount when the server
// has it, else straight through createHostedAccount with a session set on the agent.
import { AtpAgent } from '@atproto/api'
import { createHostedAccount } from '../../../src/actions/create-account.ts'
import { carToBytes } from '../../../src/repo/car/index.ts'
import { repoBlocks } from '../../../src/repo/export.ts'
import type { TestPds } from '../../helpers/pds.ts'

export interface TestAccount {
  agent: AtpAgent
  did: string
  handle: string
}

let n = 0

export async function makeAccount(pds: TestPds, name: string): Promise<TestAccount> {
  if (pds.hearth.xrpc.has('com.atproto.server.createAccount')) {
    const { agent, did, handle } = await pds.createAccount(name)
    return { agent, did, handle }
  }
  const handle = `${name}${n++}x.test`
  const created = await createHostedAccount(pds.hearth.services, { handle, email: `${handle}@example.com`, password: 'pw-secret-123' })
  const agent = new AtpAgent({ service: pds.url })
  agent.sessionManager.session = {
    did: created.did,
    handle: created.handle,
    accessJwt: created.accessJwt,
    refreshJwt: created.refreshJwt,
    active: true,
  }
  return { agent, did: created.did, handle: created.handle }
}

/** The repo's current commit CID as stored. */
export function headOf(pds: TestPds, did: string): string {
  const head = pds.hearth.services.actors.get(did)?.head()
  if (!head) throw new Error(`no repo for ${did}`)
  return head.cid.$link
}

/** The whole stored repo as CAR bytes. */
export function exportCar(pds: TestPds, did: string): Uint8Array {
  const store = pds.hearth.services.actors.get(did)
  const head = store?.head()
  if (!store || !head) throw new Error(`no repo for ${did}`)
  return carToBytes(head.cid, repoBlocks(store, head.cid))
}

/** A raw XRPC call, for requests the client library would not send. */
export async function xrpc(
  pds: TestPds,
  nsid: string,
  opts: { method?: string; query?: Record<string, string>; body?: string | Uint8Array; contentType?: string; token?: string } = {},
): Promise<{ status: number; body: any }> {
  const url = new URL(`/xrpc/${nsid}`, pds.url)
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v)
  const headers: Record<string, string> = {}
  if (opts.contentType) headers['content-type'] = opts.contentType
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  const res = await fetch(url, { method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'), headers, body: opts.body })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body }
}
