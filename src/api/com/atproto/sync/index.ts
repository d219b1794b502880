import type { MethodFactory } from '../../../method-factory.ts'
import getCheckout from './deprecated/getCheckout.ts'
import getHead from './deprecated/getHead.ts'
import getBlob from './getBlob.ts'
import getBlocks from './getBlocks.ts'
import getLatestCommit from './getLatestCommit.ts'
import getRecord from './getRecord.ts'
import getRepo from './getRepo.ts'
import getRepoStatus from './getRepoStatus.ts'
import listBlobs from './listBlobs.ts'
import listRepos from './listRepos.ts'

// subscribeRepos is a WebSocket route, served by src/firehose/hub.ts (registered in server.ts).
export const methods: MethodFactory[] = [
  getRepo,
  getLatestCommit,
  getRecord,
  getBlocks,
  getBlob,
  listBlobs,
  listRepos,
  getRepoStatus,
  getHead,
  getCheckout,
] as MethodFactory[]
