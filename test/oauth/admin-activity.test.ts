// The dashboard's recent activity comes from the metrics /metrics exports: its "now" figures are
// a scrape's values, and its charts are drawn from the metrics sampler's readings. The sampler is
// driven by a test clock here (one sample per simulated minute), so the test takes seconds.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { AtpAgent } from '@atproto/api'
import { WebSocket } from 'ws'
import { type MetricsSample, MetricsSampler, quantile, useMetricsSampler } from '../../src/metrics/history.ts'
import { MAX_BARS, spans } from '../../src/oauth/ui/admin-activity.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

interface Family {
  name: string
  type: string
  metrics: Array<{ value?: string; count?: string; labels?: Record<string, string> }>
}
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

let pds: TestPds
let clock = Date.parse('2026-01-02T03:00:00Z')
const sampler = new MetricsSampler({ now: () => clock })

before(async () => {
  useMetricsSampler(sampler)
  pds = await startTestPds()
})
after(() => pds.close())

interface Scrape {
  accounts: number
  sessions: number
  commits: number
  requests: number
  subscribers: number
}

async function scrape(): Promise<Scrape> {
  const res = await fetch(new URL('/metrics', pds.url), {
    headers: { authorization: `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}` },
  })
  assert.equal(res.status, 200)
  const text = await res.text()
  const families = new Map(parse(text).map((f) => [f.name, f]))
  const total = (name: string) => {
    const f = families.get(name)
    assert.ok(f, `${name} is exported`)
    return f.metrics.reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0)
  }
  return {
    accounts: total('account_created_total'),
    sessions: total('session_created_total'),
    commits: total('hearth_commits_total'),
    // The text parser folds a labelled histogram's series into one: its _count lines are summed here.
    requests: [...text.matchAll(/^http_server_request_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0),
    subscribers: total('hearth_firehose_subscribers'),
  }
}

async function signIn(): Promise<CookieJar> {
  const jar = new CookieJar()
  const first = await fetch(pds.url + '/admin', { redirect: 'manual' })
  jar.store(first)
  await first.text()
  const res = await fetch(pds.url + '/admin', {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded', origin: new URL(pds.url).origin },
    body: new URLSearchParams({ csrf: jar.csrf(), action: 'sign-in', password: pds.adminPassword }).toString(),
    redirect: 'manual',
  })
  jar.store(res)
  await res.text()
  assert.equal(res.status, 303)
  return jar
}

/** The chart with this caption: its summary and each bar's <title>. */
function chart(body: string, caption: string): { summary: string; titles: string[] } {
  const at = body.indexOf(`<figcaption>${caption}</figcaption>`)
  assert.ok(at >= 0, `a chart "${caption}"`)
  const svg = body.slice(at, body.indexOf('</svg>', at))
  const summary = /aria-label="([^"]*)"/.exec(svg)?.[1] ?? ''
  return { summary, titles: [...svg.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1]!) }
}

const fact = (body: string, id: string) => Number(new RegExp(`<dd id="${id}">(\\d+)</dd>`).exec(body)?.[1])
const barValue = (title: string) => Number(/: ([\d.e-]+) /.exec(title)?.[1])

describe('dashboard activity from the metrics', () => {
  it('shows the figures a /metrics scrape gives, and charts drawn from the samples', async () => {
    const jar = await signIn()
    await sampler.sample()
    const m0 = await scrape()

    // A minute with two signups, a sign-in and three posts.
    const alice = await pds.createAccount('act-a')
    await pds.createAccount('act-b')
    await new AtpAgent({ service: pds.url }).login({ identifier: alice.handle, password: alice.password })
    for (let i = 0; i < 3; i++) {
      await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: `p${i}`, createdAt: new Date().toISOString() } })
    }
    clock += 60_000
    await sampler.sample()
    const m1 = await scrape()

    // A minute with one post and a firehose subscriber.
    const ws = new WebSocket(pds.url.replace(/^http/, 'ws') + '/xrpc/com.atproto.sync.subscribeRepos')
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    for (let i = 0; i < 100 && pds.hearth.services.firehose.subscriberCount < 1; i++) await sleep(20)
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: 'later', createdAt: new Date().toISOString() } })
    clock += 60_000
    await sampler.sample()
    const m2 = await scrape()

    assert.equal(m1.accounts - m0.accounts, 2)
    assert.equal(m1.sessions - m0.sessions, 3, 'two from createAccount, one from createSession')
    assert.ok(m1.commits - m0.commits >= 5, 'two genesis commits and three posts')
    assert.equal(m2.commits - m1.commits, 1)
    assert.equal(m2.subscribers, 1)

    const res = await fetch(pds.url + '/admin', { headers: { cookie: jar.header() } })
    assert.equal(res.status, 200)
    const body = await res.text()
    ws.close()

    // Now: the scrape's values (the /metrics request itself is counted once it has ended).
    assert.equal(fact(body, 'm-accounts'), m2.accounts)
    assert.equal(fact(body, 'm-sessions'), m2.sessions)
    assert.equal(fact(body, 'm-commits'), m2.commits)
    assert.equal(fact(body, 'm-subscribers'), m2.subscribers)
    assert.equal(fact(body, 'm-requests'), m2.requests + 1)

    // The charts: one bar per simulated minute, each the difference of the metrics between samples.
    const signups = chart(body, 'Signups per 1 min')
    assert.deepEqual(signups.titles.map(barValue), [2, 0])
    assert.match(signups.summary, /: 2 signups in all/)
    assert.deepEqual(chart(body, 'Sign-ins per 1 min').titles.map(barValue), [3, 0])
    const commits = chart(body, 'Commits per second').titles.map(barValue)
    assert.equal(commits.length, 2)
    assert.ok(Math.abs(commits[0]! - (m1.commits - m0.commits) / 60) < 0.001, `${commits[0]} commits/s`)
    assert.ok(Math.abs(commits[1]! - 1 / 60) < 0.0001, `${commits[1]} commits/s`)
    const requests = chart(body, 'Requests per second').titles.map(barValue)
    assert.ok(Math.abs(requests[0]! - (m1.requests - m0.requests) / 60) < 0.001, `${requests[0]} requests/s from ${m1.requests - m0.requests} requests`)
    assert.deepEqual(chart(body, 'Firehose subscribers').titles.map(barValue), [0, 1])
    const p99 = chart(body, 'Request duration, 99th percentile').titles.map(barValue)
    assert.ok(p99[0]! > 0 && p99[0]! <= 10_000, `${p99[0]} ms`)
    assert.match(chart(body, 'Commits per second').titles[1]!, /^03:02 UTC: /)
    assert.match(body, /Sampled from the metrics every 1 min since 03:00 UTC \(3 samples\)/)

    // The history from before this process stays, drawn from the databases and said so.
    assert.ok(chart(body, 'Commits per hour, last 24 hours').titles.length === 24)
    assert.match(body, /From the account database, so it reaches back before this start/)
  })

  it('samples on its own timer into a bounded ring', async () => {
    const ring = new MetricsSampler({ intervalMs: 20, capacity: 5 }).start()
    try {
      for (let i = 0; i < 100 && ring.samples().length < 5; i++) await sleep(20)
      await sleep(120)
      const got = ring.samples()
      assert.equal(got.length, 5)
      for (let i = 1; i < got.length; i++) assert.ok(got[i]!.at > got[i - 1]!.at, 'oldest first, newest last')
      assert.ok(Date.now() - got.at(-1)!.at < 200, 'the oldest were dropped, not the newest')
    } finally {
      ring.stop()
    }
  })

  it('draws a full day of samples as half-hour bars whose counts add up to the counters\' rise', () => {
    const day: MetricsSample[] = []
    for (let i = 0; i < 1440; i++) {
      day.push({ at: i * 60_000, accountsCreated: Math.floor(i / 7), sessionsCreated: 2 * i, commits: 5 * i, requests: 10 * i, requestP99: i === 700 ? 0.4 : 0.01, firehoseSubscribers: i % 3, eventLoopDelayP99: 0.02 })
    }
    const { per, spans: bars } = spans(day)
    assert.equal(per, 30)
    assert.equal(bars.length, MAX_BARS)
    assert.equal(bars.reduce((n, b) => n + b.accounts, 0), day.at(-1)!.accountsCreated - day[0]!.accountsCreated)
    assert.equal(bars.reduce((n, b) => n + b.sessions, 0), 2 * 1439)
    assert.equal(bars.at(-1)!.end, day.at(-1), 'the newest bar ends at the newest sample')
    for (const b of bars) assert.ok(Math.abs(b.commits / b.seconds - 5 / 60) < 1e-9, 'a steady rate stays steady whatever the bar width')
    assert.equal(bars.filter((b) => b.requestP99 === 0.4).length, 1, 'a slow minute shows in its bar')
  })

  it('takes the p99 of the requests between two samples as histogram_quantile does', () => {
    const before = new Map([[0.1, 10], [0.5, 10], [Infinity, 10]])
    // 100 new requests: 90 under 0.1 s, 10 between 0.1 and 0.5 s.
    const after = new Map([[0.1, 100], [0.5, 110], [Infinity, 110]])
    assert.ok(Math.abs(quantile(0.99, before, after)! - (0.1 + 0.4 * (9 / 10))) < 1e-9)
    assert.equal(quantile(0.99, after, after), null)
    assert.equal(quantile(0.99, new Map(), new Map([[0.1, 0], [Infinity, 5]])), 0.1)
  })
})
