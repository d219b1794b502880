// Which XRPC methods there are to fuzz, taken from the same places the server takes them, so a
// method added to Hearth is fuzzed without anyone listing it here:
// - served: every method src/api/index.ts loads (each group's index.ts), found by building each
//   method with a stand-in for the services it would close over and reading its NSID;
// - proxied: every other query or procedure in the lexicon set Hearth validates against (the
//   router hands them to the proxy);
// - subscriptions: every subscription lexicon (Hearth serves subscribeRepos; the others must be
//   refused without harm).
import { loadMethodFactories } from '../../src/api/index.ts'
import { type MethodDef, getMethodDef, lexicons } from '../../src/lexicons.ts'

export interface Catalogue {
  served: MethodDef[]
  proxied: MethodDef[]
  subscriptions: MethodDef[]
}

// A factory only closes over the services it is given (`s.auth.accessStandard`, `s.config`...):
// a stand-in on which every property is again a stand-in lets it build without a server.
function standIn(): unknown {
  const target = function () {}
  return new Proxy(target, {
    get: (_t, key) => (key === 'then' ? undefined : key === Symbol.toPrimitive ? () => '' : standIn()),
    apply: () => standIn(),
  })
}

let cached: Catalogue | null = null

export async function loadCatalogue(): Promise<Catalogue> {
  if (cached) return cached
  const servedNsids = new Set<string>()
  for (const make of await loadMethodFactories()) {
    const method = make(standIn() as Parameters<typeof make>[0])
    servedNsids.add(method.nsid)
  }
  const served: MethodDef[] = []
  const proxied: MethodDef[] = []
  const subscriptions: MethodDef[] = []
  for (const doc of lexicons()) {
    const def = getMethodDef(doc.id)
    if (def === null) continue
    if (def.type === 'subscription') subscriptions.push(def)
    else if (servedNsids.has(def.nsid)) served.push(def)
    else proxied.push(def)
  }
  const missing = [...servedNsids].filter((nsid) => !served.some((d) => d.nsid === nsid))
  if (missing.length > 0) throw new Error(`served methods without a lexicon: ${missing.join(', ')}`)
  const byNsid = (a: MethodDef, b: MethodDef) => (a.nsid < b.nsid ? -1 : a.nsid > b.nsid ? 1 : 0)
  cached = { served: served.sort(byNsid), proxied: proxied.sort(byNsid), subscriptions: subscriptions.sort(byNsid) }
  return cached
}
