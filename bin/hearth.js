#!/usr/bin/env node
// Launcher for the `hearth` command: registers tsx so that the TypeScript sources run as they
// are (no build step), then hands the arguments to src/cli/main.ts. Paths are resolved from
// this file, so it works from any working directory.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
const code = await main(process.argv.slice(2))
if (code >= 0) process.exitCode = code
