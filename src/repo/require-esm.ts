// Packages loaded on first use, synchronously, by code that cannot await (a validator, a
// signature check inside the write path's critical section): require() of an ES module, which
// Node has from 20.19 / 22.12 on (and tsx's require hook handles). Where Node has not, the
// callers import the package at start instead, as they did before loading it lazily.
//
// One rule for every package loaded this way: never also load it (or a module that imports it)
// with import() at run time. On Node 22 and 24 a require() that reaches a module an import() is
// still loading fails (ERR_REQUIRE_ESM_RACE_CONDITION, or an internal assertion), even in the
// same tick; a first request would then fail where it should have loaded the package.
import { createRequire } from 'node:module'

/** Whether this Node can require() an ES module, so that loading on first use is possible. */
export const canRequireEsm: boolean = (process.features as { require_module?: boolean }).require_module === true

/** require() resolving from the project (the bundle, or src/ under tsx: the same node_modules). */
export const requireEsm: NodeJS.Require = createRequire(import.meta.url)
