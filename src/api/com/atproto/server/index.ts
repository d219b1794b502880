import type { MethodFactory } from '../../../method-factory.ts'
import checkAccountStatus from './checkAccountStatus.ts'
import createAccount from './createAccount.ts'
import createAppPassword from './createAppPassword.ts'
import createInviteCode from './createInviteCode.ts'
import createInviteCodes from './createInviteCodes.ts'
import createSession from './createSession.ts'
import deleteSession from './deleteSession.ts'
import describeServer from './describeServer.ts'
import getAccountInviteCodes from './getAccountInviteCodes.ts'
import getServiceAuth from './getServiceAuth.ts'
import getSession from './getSession.ts'
import listAppPasswords from './listAppPasswords.ts'
import refreshSession from './refreshSession.ts'
import revokeAppPassword from './revokeAppPassword.ts'
import activateAccount from './activateAccount.ts'
import confirmEmail from './confirmEmail.ts'
import deactivateAccount from './deactivateAccount.ts'
import deleteAccount from './deleteAccount.ts'
import requestAccountDelete from './requestAccountDelete.ts'
import requestEmailConfirmation from './requestEmailConfirmation.ts'
import requestEmailUpdate from './requestEmailUpdate.ts'
import requestPasswordReset from './requestPasswordReset.ts'
import resetPassword from './resetPassword.ts'
import updateEmail from './updateEmail.ts'

export const methods: MethodFactory[] = [
  describeServer,
  createAccount,
  createSession,
  getSession,
  refreshSession,
  deleteSession,
  createAppPassword,
  listAppPasswords,
  revokeAppPassword,
  createInviteCode,
  createInviteCodes,
  getAccountInviteCodes,
  checkAccountStatus,
  getServiceAuth,
  requestEmailConfirmation,
  confirmEmail,
  requestEmailUpdate,
  updateEmail,
  requestPasswordReset,
  resetPassword,
  requestAccountDelete,
  deleteAccount,
  deactivateAccount,
  activateAccount,
] as MethodFactory[]
