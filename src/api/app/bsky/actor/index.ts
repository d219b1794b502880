import type { MethodFactory } from '../../../index.ts'
import getPreferences from './getPreferences.ts'
import putPreferences from './putPreferences.ts'

export const methods: MethodFactory[] = [getPreferences, putPreferences] as MethodFactory[]
