// com.atproto.admin: the operator's and moderator's methods, as the official PDS serves them.
// (searchAccounts and updateAccountSigningKey are not served by the official PDS either: they
// fall to the proxy.)
import type { MethodFactory } from '../../../method-factory.ts'
import deleteAccount from './deleteAccount.ts'
import disableAccountInvites from './disableAccountInvites.ts'
import disableInviteCodes from './disableInviteCodes.ts'
import enableAccountInvites from './enableAccountInvites.ts'
import getAccountInfo from './getAccountInfo.ts'
import getAccountInfos from './getAccountInfos.ts'
import getInviteCodes from './getInviteCodes.ts'
import getSubjectStatus from './getSubjectStatus.ts'
import sendEmail from './sendEmail.ts'
import updateAccountEmail from './updateAccountEmail.ts'
import updateAccountHandle from './updateAccountHandle.ts'
import updateAccountPassword from './updateAccountPassword.ts'
import updateSubjectStatus from './updateSubjectStatus.ts'

export const methods: MethodFactory[] = [
  updateSubjectStatus,
  getSubjectStatus,
  getAccountInfo,
  getAccountInfos,
  enableAccountInvites,
  disableAccountInvites,
  disableInviteCodes,
  getInviteCodes,
  updateAccountHandle,
  updateAccountEmail,
  updateAccountPassword,
  sendEmail,
  deleteAccount,
] as MethodFactory[]
