import type { MethodFactory } from '../../../method-factory.ts'
import applyWrites from './applyWrites.ts'
import createRecord from './createRecord.ts'
import deleteRecord from './deleteRecord.ts'
import describeRepo from './describeRepo.ts'
import getRecord from './getRecord.ts'
import importRepo from './importRepo.ts'
import listMissingBlobs from './listMissingBlobs.ts'
import listRecords from './listRecords.ts'
import putRecord from './putRecord.ts'
import uploadBlob from './uploadBlob.ts'

export const methods: MethodFactory[] = [
  createRecord,
  putRecord,
  deleteRecord,
  applyWrites,
  getRecord,
  listRecords,
  describeRepo,
  uploadBlob,
  importRepo,
  listMissingBlobs,
] as MethodFactory[]
