// The pieces of a POSIX ustar archive, for streaming blobs out as one download that every
// system opens (tar on Linux, macOS and Windows 10+, and archive managers): a 512-byte header
// per file, its bytes padded to 512, and two zero blocks at the end. No compression: blobs are
// images and videos, already compressed.

export const TAR_BLOCK = 512

/** Largest file a ustar header's 11 octal digits can describe (8 GiB - 1). */
export const TAR_MAX_FILE = 0o77777777777

function putString(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length > length) throw new RangeError(`tar field too long: ${value}`)
  bytes.copy(buf, offset)
}

function putOctal(buf: Buffer, offset: number, length: number, value: number): void {
  putString(buf, offset, length, `${Math.floor(value).toString(8).padStart(length - 1, '0')}\0`)
}

/** The header of one regular file (name at most 100 bytes). */
export function tarHeader(name: string, size: number, mtime: Date, mode = 0o644): Buffer {
  if (!Number.isSafeInteger(size) || size < 0 || size > TAR_MAX_FILE) throw new RangeError(`tar file size out of range: ${size}`)
  const h = Buffer.alloc(TAR_BLOCK)
  putString(h, 0, 100, name)
  putOctal(h, 100, 8, mode)
  putOctal(h, 108, 8, 0)
  putOctal(h, 116, 8, 0)
  putOctal(h, 124, 12, size)
  putOctal(h, 136, 12, Math.max(0, Math.floor(mtime.getTime() / 1000)))
  h.fill(0x20, 148, 156) // the checksum is computed with its own field as spaces
  h[156] = 0x30 // '0': a regular file
  putString(h, 257, 6, 'ustar\0')
  putString(h, 263, 2, '00')
  let sum = 0
  for (const b of h) sum += b
  putString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return h
}

/** The zero bytes that bring a file of `size` bytes to a whole number of blocks. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest)
}

/** The end of an archive: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK)
}
