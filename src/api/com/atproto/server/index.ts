import type { MethodFactory } from '../../../index.ts'
import createAccount from './createAccount.ts'
import createSession from './createSession.ts'
import deleteSession from './deleteSession.ts'
import describeServer from './describeServer.ts'
import getSession from './getSession.ts'
import refreshSession from './refreshSession.ts'

export const methods: MethodFactory[] = [
  describeServer,
  createAccount,
  createSession,
  getSession,
  refreshSession,
  deleteSession,
] as MethodFactory[]
