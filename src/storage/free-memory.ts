// Giving memory the process has freed back to the operating system.
//
// glibc's malloc keeps freed memory for reuse: only a free stretch at the very top of its heap is
// returned by itself, and a hole in the middle stays resident for the process's life. A server
// that took a burst (upload bodies read in 64 KiB chunks, page caches of stores it has since
// freed) keeps its peak, free but counted in its RSS, until
// something calls malloc_trim(3), which releases the whole pages inside free chunks of every
// arena (madvise). Node offers no way to call it; measured on a server after the bench's load,
// 7-16 MB of the reading was such memory (BENCHMARKS.md, "Memory after load, sixth round").
//
// SQLite can: loading an "extension" is dlopen(file) and a call of the named entry point, and
// glibc is already loaded under the name libc.so.6. The entry point is called with the
// connection's pointer as its first argument, which malloc_trim takes as `pad`, the bytes to
// leave at the top of the main heap: a pointer's value is larger than any heap, so the top is
// left as it is (glibc trims it on free anyway) and the holes are released. The other two
// arguments fall in registers malloc_trim does not read, on every ABI node runs on. SQLite
// treats malloc_trim's result, 1 when it released memory, as an initialization error, with
// its own message; 0 loads nothing lasting (the connection is closed at once). Anywhere else
// (musl, macOS, Windows: no libc.so.6 with that function) the first try fails and later calls
// do nothing. better-sqlite3 turns on SQLite's extension loading for the C interface alone:
// SQL's load_extension() stays off on every connection, this one included.
import { openDb } from './sqlite.ts'

const TRIMMED = 'error during initialization'

let available = process.platform === 'linux'

/**
 * Returns the free pages in the middle of the allocator's heaps to the operating system. For
 * moments the process has fallen idle: it takes each heap's lock for its walk (~10 ms for 200 MB
 * free, less than one for a few MB), and whatever is reused afterwards is faulted in again.
 * True when memory was released, false when there was none or the platform has no way.
 */
export function returnFreedMemory(): boolean {
  if (!available) return false
  let db: ReturnType<typeof openDb> | null = null
  try {
    db = openDb(':memory:')
    // better-sqlite3 passes the entry point on to SQLite; its types name only the file.
    ;(db.loadExtension as (file: string, entryPoint: string) => unknown).call(db, 'libc.so.6', 'malloc_trim')
    return false
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(TRIMMED)) return true
    available = false
    return false
  } finally {
    db?.close()
  }
}
