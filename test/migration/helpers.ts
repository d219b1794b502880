// Shared by the migration tests.

const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

/** A valid 1×1 PNG, made distinct per `n` by bytes after its end (still sniffed as image/png). */
export function pngBytes(n: number): Uint8Array {
  const png = Buffer.from(PNG_1X1, 'base64')
  return new Uint8Array(Buffer.concat([png, Buffer.from(`hearth-${n}`)]))
}
