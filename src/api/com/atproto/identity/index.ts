import type { MethodFactory } from '../../../method-factory.ts'
import getRecommendedDidCredentials from './getRecommendedDidCredentials.ts'
import refreshIdentity from './refreshIdentity.ts'
import requestPlcOperationSignature from './requestPlcOperationSignature.ts'
import resolveDid from './resolveDid.ts'
import resolveHandle from './resolveHandle.ts'
import resolveIdentity from './resolveIdentity.ts'
import signPlcOperation from './signPlcOperation.ts'
import submitPlcOperation from './submitPlcOperation.ts'
import updateHandle from './updateHandle.ts'

export const methods: MethodFactory[] = [
  resolveHandle,
  updateHandle,
  getRecommendedDidCredentials,
  requestPlcOperationSignature,
  signPlcOperation,
  submitPlcOperation,
  resolveDid,
  resolveIdentity,
  refreshIdentity,
] as MethodFactory[]
