// How deep a value may nest. Records, preferences and request bodies are walked recursively
// in many places (conversion, lexicon validation, blob and link discovery, CBOR and JSON
// encoding); a value a few thousand levels deep overflows the stack in one of them, and a record
// that was stored that way could never be read back. So depth is bounded where values come in,
// by an iterative walk that cannot overflow itself. 128 is far beyond any real record.
export const MAX_NESTING_DEPTH = 128

/** The message every depth refusal carries, so clients see the limit. */
export function nestingTooDeepMessage(max: number = MAX_NESTING_DEPTH): string {
  return `nested deeper than ${max} levels`
}

/**
 * Whether a value nests more than `max` maps/arrays deep (a top-level map or array is level 1,
 * scalars are level 0). Only arrays and plain objects are descended into: CID and bytes
 * wrappers are values. The walk recurses, but never past level `max + 1`, so it cannot overflow
 * the stack whatever the value's depth.
 */
export function exceedsNestingDepth(value: unknown, max: number = MAX_NESTING_DEPTH): boolean {
  return isContainer(value) && deeperThan(value, max)
}

/** Whether the container `node` has more than `budget` levels (itself included). */
function deeperThan(node: object, budget: number): boolean {
  if (budget < 1) return true
  const below = budget - 1
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i]
      if (typeof child === 'object' && child !== null && isContainer(child) && deeperThan(child, below)) return true
    }
    return false
  }
  const obj = node as Record<string, unknown>
  for (const key in obj) {
    const child = obj[key]
    if (typeof child === 'object' && child !== null && isContainer(child) && deeperThan(child, below)) return true
  }
  return false
}

function isContainer(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false
  if (Array.isArray(v)) return true
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}
