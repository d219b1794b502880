// The hook where OAuth `rpc:` scopes are checked for proxied calls. Every proxied call (the
// generic fallback, the app.bsky handlers, createReport, getFeed) asks it, after the session
// is verified and before anything is forwarded, with the audience as the official computes it
// (`did#service_id`). Legacy sessions pass; an OAuth session needs `rpc:<lxm>?aud=<aud>`
// (403 ScopeMissingError otherwise), as src/auth/permissions.ts checks it.
export { assertRpcPermission } from '../auth/permissions.ts'
