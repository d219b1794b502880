import type { MethodFactory } from '../../../method-factory.ts'
import getPreferences from './getPreferences.ts'
import getProfile from './getProfile.ts'
import getProfiles from './getProfiles.ts'
import putPreferences from './putPreferences.ts'

export const methods: MethodFactory[] = [getPreferences, putPreferences, getProfile, getProfiles] as MethodFactory[]
