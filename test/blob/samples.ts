// Minimal but well-formed headers of the media types users upload, built byte by byte, each
// with the type the official PDS records for it (file-type 21/22 names).
const ascii = (s: string) => Buffer.from(s, 'latin1')
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  return Buffer.concat([u32(data.length), ascii(type), data, Buffer.alloc(4) /* CRC, unchecked */])
}

export const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  pngChunk('IHDR', Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0])),
  pngChunk('IDAT', Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01])),
  pngChunk('IEND', Buffer.alloc(0)),
])

// SOI, APP0 JFIF, then the start of a quantization table.
export const jpeg = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
  ascii('JFIF\0'),
  Buffer.from([0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00]),
  Buffer.alloc(64, 1),
])

export const gif = Buffer.concat([
  ascii('GIF89a'),
  Buffer.from([0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00]),
  Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b]),
])

export const webp = Buffer.concat([
  ascii('RIFF'),
  Buffer.from([0x24, 0, 0, 0]),
  ascii('WEBPVP8 '),
  Buffer.from([0x18, 0, 0, 0, 0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x01, 0x00, 0x01, 0x00]),
  Buffer.alloc(14),
])

function ftyp(major: string, compatible: string[]): Buffer {
  const body = Buffer.concat([ascii(major), u32(0x200), ...compatible.map(ascii)])
  return Buffer.concat([u32(8 + body.length), ascii('ftyp'), body])
}

const mdatStart = Buffer.concat([u32(16), ascii('mdat'), Buffer.alloc(8)])
export const mp4 = Buffer.concat([ftyp('isom', ['isom', 'iso2', 'avc1', 'mp41']), mdatStart])
export const quicktime = Buffer.concat([ftyp('qt  ', ['qt  ']), mdatStart])
export const avif = Buffer.concat([ftyp('avif', ['avif', 'mif1', 'miaf']), mdatStart])

// EBML header whose DocType is "webm".
export const webm = Buffer.concat([
  Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f]),
  Buffer.from([0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81, 0x01, 0x42, 0xf2, 0x81, 0x04, 0x42, 0xf3, 0x81, 0x08]),
  Buffer.from([0x42, 0x82, 0x84]),
  ascii('webm'),
  Buffer.from([0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02]),
  Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
])

export const pdf = Buffer.concat([
  ascii('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'),
  Buffer.alloc(4096, 0x20),
])

// An ID3v2 tag of 2 KiB of padding, then an MPEG-1 Layer III frame header.
export const mp3 = Buffer.concat([
  ascii('ID3'),
  Buffer.from([0x04, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00]), // syncsafe size 2048
  Buffer.alloc(2048),
  Buffer.from([0xff, 0xfb, 0x90, 0x64]),
  Buffer.alloc(413),
])

export const samples: Array<{ name: string; bytes: Buffer; mime: string }> = [
  { name: 'png', bytes: png, mime: 'image/png' },
  { name: 'jpeg', bytes: jpeg, mime: 'image/jpeg' },
  { name: 'gif', bytes: gif, mime: 'image/gif' },
  { name: 'webp', bytes: webp, mime: 'image/webp' },
  { name: 'mp4', bytes: mp4, mime: 'video/mp4' },
  { name: 'quicktime', bytes: quicktime, mime: 'video/quicktime' },
  { name: 'avif', bytes: avif, mime: 'image/avif' },
  { name: 'webm', bytes: webm, mime: 'video/webm' },
  { name: 'pdf', bytes: pdf, mime: 'application/pdf' },
  { name: 'mp3', bytes: mp3, mime: 'audio/mpeg' },
]
