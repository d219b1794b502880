import type { MethodFactory } from '../../../index.ts'
import resolveHandle from './resolveHandle.ts'

export const methods: MethodFactory[] = [resolveHandle] as MethodFactory[]
