// The shared cache of decoded MST nodes: bounded, least recently used dropped first, and a node
// decoded at another layer never answers for this one.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cidForCbor } from '../../src/repo/cid.ts'
import { Leaf, MstNode, NodeCache } from '../../src/repo/mst/index.ts'

const node = (i: number, layer = 0) => new MstNode(layer, [new Leaf(`app.bsky.feed.post/k${i}`, cidForCbor(new Uint8Array([i])))], true)

test('node cache: keeps at most its capacity, dropping the least recently used', () => {
  const cache = new NodeCache(3)
  const n = [0, 1, 2, 3, 4].map((i) => node(i))
  cache.set('a', n[0] as MstNode)
  cache.set('b', n[1] as MstNode)
  cache.set('c', n[2] as MstNode)
  assert.equal(cache.get('a', 0), n[0]) // now the most recently used
  cache.set('d', n[3] as MstNode)
  assert.equal(cache.size, 3)
  assert.equal(cache.get('b', 0), undefined, 'b was the least recently used')
  assert.equal(cache.get('a', 0), n[0])
  assert.equal(cache.get('c', 0), n[2])
  assert.equal(cache.get('d', 0), n[3])
  cache.set('d', n[3] as MstNode) // again: no growth
  assert.equal(cache.size, 3)
})

test('node cache: another layer is a miss; capacity 0 keeps nothing', () => {
  const cache = new NodeCache(10)
  cache.set('x', node(1, 2))
  assert.equal(cache.get('x', 1), undefined)
  assert.equal(cache.get('x', 2)?.layer, 2)
  const none = new NodeCache(0)
  none.set('x', node(1))
  assert.equal(none.size, 0)
  assert.equal(none.get('x', 0), undefined)
})
