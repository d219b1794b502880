import type { MethodFactory } from '../../../method-factory.ts'
import getActorLikes from './getActorLikes.ts'
import getAuthorFeed from './getAuthorFeed.ts'
import getFeed from './getFeed.ts'
import getPostThread from './getPostThread.ts'
import getTimeline from './getTimeline.ts'

export const methods: MethodFactory[] = [getActorLikes, getAuthorFeed, getFeed, getPostThread, getTimeline] as MethodFactory[]
