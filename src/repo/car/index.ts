export { CarError } from './errors.ts'
export type { CarBlock, PackedCarBlocks, RawCarBlock } from './types.ts'
export {
  CAR_CHUNK_SIZE,
  type CarBlockInput,
  type CarBlockSource,
  carHeaderSize,
  carToBytes,
  encodeCarHeader,
  writeCar,
  writeCarHeader,
  writeCarToStream,
  type WriteCarOptions,
  type WriteCarToStreamOptions,
} from './writer.ts'
export {
  type CarContents,
  type CarStreamReader,
  DEFAULT_MAX_BLOCK_SIZE,
  MAX_HEADER_SIZE,
  readCar,
  readCarStream,
  type ReadCarOptions,
} from './reader.ts'
