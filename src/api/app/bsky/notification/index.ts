import type { MethodFactory } from '../../../index.ts'
import registerPush from './registerPush.ts'

export const methods: MethodFactory[] = [registerPush] as MethodFactory[]
