import type { MethodFactory } from '../../../method-factory.ts'
import registerPush from './registerPush.ts'

export const methods: MethodFactory[] = [registerPush] as MethodFactory[]
