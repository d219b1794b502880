// A raw XRPC call for the server-method tests: any body, any Authorization header, the
// response's status and parsed JSON (null for an empty body).
import type { TestPds } from '../../helpers/pds.ts'

export interface RawResponse {
  status: number
  body: any
}

export async function call(
  pds: TestPds,
  nsid: string,
  opts: { query?: Record<string, string>; json?: unknown; rawBody?: string; auth?: string; bearer?: string } = {},
): Promise<RawResponse> {
  const url = new URL(`/xrpc/${nsid}`, pds.url)
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v)
  const headers: Record<string, string> = {}
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`
  if (opts.auth) headers.authorization = opts.auth
  let body: string | undefined
  if (opts.json !== undefined) body = JSON.stringify(opts.json)
  if (opts.rawBody !== undefined) body = opts.rawBody
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, { method: body !== undefined ? 'POST' : 'GET', headers, body })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

export const basicAuth = (password: string) => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`

/**
 * pds.restart(), then a pause: the client's pooled keep-alive sockets to the old server can
 * still look open for a moment after it closed them, and the next request on one fails with
 * "other side closed" (seen without the pause in about one restart in ten).
 */
export async function restartPds(pds: TestPds): Promise<void> {
  await pds.restart()
  await new Promise((resolve) => setTimeout(resolve, 50))
}
