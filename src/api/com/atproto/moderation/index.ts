import type { MethodFactory } from '../../../index.ts'
import createReport from './createReport.ts'

export const methods: MethodFactory[] = [createReport] as MethodFactory[]
