import type { MethodFactory } from '../../../index.ts'

export const methods: MethodFactory[] = []
