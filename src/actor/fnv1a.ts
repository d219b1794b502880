// FNV-1a over a string's UTF-16 code units, 32 bits: a cheap, stable number for a short text
// where a cryptographic hash is not needed (a schema's stamp, a store's number in a cache).

/** FNV-1a's starting value: a first call passes nothing; a running hash passes what the last returned. */
export const FNV1A_START = 0x811c9dc5

/** Folds `text` into the running hash `h` (a signed 32-bit number; `>>> 0` for the unsigned). */
export function fnv1a(text: string, h: number = FNV1A_START): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h
}
