// What every method module under src/api/ exports: a function from the services to the method.
// Its own module, so that the group indexes and the loader in index.ts do not import each other.
import type { Services } from '../services.ts'
import type { AuthResult } from '../xrpc/auth-result.ts'
import type { XrpcMethod } from '../xrpc/types.ts'

export type MethodFactory = (s: Services) => XrpcMethod<AuthResult>
