// Run as a child process by test/storage/free-memory.test.ts (`node --expose-gc --import tsx
// <this file>`): leaves ~115 MB of free memory in holes of the allocator's main heap (2,000
// buffers of 60,000 bytes, every 50th kept so that the heap's top stays in use), then calls
// returnFreedMemory twice, and prints as JSON the anonymous memory (RssAnon, MB) at each step,
// what each call returned, and whether the kept buffers still hold their bytes. A process of its
// own: the test runner's heap is not a known state.
import { readFileSync } from 'node:fs'
import { returnFreedMemory } from '../../src/storage/free-memory.ts'

const anonMb = () => Number(/^RssAnon:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')

const kept: Buffer[] = []
let made: Buffer[] | null = []
for (let i = 0; i < 2000; i++) {
  // Below the mmap threshold (128 KiB): each comes from the main heap.
  const b = Buffer.alloc(60_000, i % 251)
  made.push(b)
  if (i % 50 === 0) kept.push(b)
}
made = null
gc()
gc()
const freed = anonMb()
const first = returnFreedMemory()
const afterFirst = anonMb()
const second = returnFreedMemory()
const afterSecond = anonMb()
const intact = kept.every((b, k) => b.every((byte) => byte === (k * 50) % 251))
console.log(JSON.stringify({ freed, first, afterFirst, second, afterSecond, intact }))
