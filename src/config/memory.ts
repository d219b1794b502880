// Memory budgets shared by every account's store.

/**
 * Decoded MST nodes kept for all the accounts together (HEARTH_MST_NODE_CACHE), the least
 * recently used dropped first. A node takes ~1.7 KB of heap, so this is ~17 MB at most. A write
 * reads the nodes on its key's path (4 to 7 in most repos): this keeps the paths of a thousand
 * or more recently written accounts warm, while thousands of open stores cost little more.
 */
export const DEFAULT_MST_NODE_CACHE = 10_000
