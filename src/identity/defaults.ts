// The official PDS's identity defaults (its env vars in parentheses): what these modules use when
// their caller (normally with values from src/config.ts) passes none.

/** Deadline of one DID or handle resolution, and of a PLC request (PDS_ID_RESOLVER_TIMEOUT). */
export const DEFAULT_ID_RESOLVER_TIMEOUT_MS = 3000

/** After this a cached DID document is refreshed in the background (PDS_DID_CACHE_STALE_TTL). */
export const DID_CACHE_STALE_TTL_MS = 60 * 60 * 1000

/** After this a cached DID document is resolved again before use (PDS_DID_CACHE_MAX_TTL). */
export const DID_CACHE_MAX_TTL_MS = 24 * 60 * 60 * 1000
