import type { MethodFactory } from '../../../method-factory.ts'
import createReport from './createReport.ts'

export const methods: MethodFactory[] = [createReport] as MethodFactory[]
