// Preloaded by `npm start` (node --require): sizes libuv's thread pool before anything uses it.
//
// Node runs file-system work, DNS lookups, zlib and scrypt on one pool of 4 threads by default.
// A PDS does all four at once (blob uploads and reads, outgoing fetches, password checks), so a
// few slow jobs of one kind hold up all the others; a larger pool costs only idle threads.
// libuv reads UV_THREADPOOL_SIZE once, when the pool starts, and on Node 20 the pool has already
// started by the time an ES module entry (dist/hearth.mjs, bin/hearth.js) runs its first line:
// the ES module loader reads the entry file through it. A CommonJS preload runs before that.
// An operator's own UV_THREADPOOL_SIZE is left as it is.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '16'
