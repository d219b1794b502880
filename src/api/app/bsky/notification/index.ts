import type { MethodFactory } from '../../../method-factory.ts'
import registerPush from './registerPush.ts'
import unregisterPush from './unregisterPush.ts'

export const methods: MethodFactory[] = [registerPush, unregisterPush] as MethodFactory[]
