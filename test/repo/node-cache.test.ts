// The shared cache of decoded MST nodes: bounded, the least recently used dropped first, and a
// node decoded at another layer never answers for this one.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cidForCbor } from '../../src/repo/cid.ts'
import { Leaf, MstNode, NodeCache } from '../../src/repo/mst/index.ts'

const node = (i: number, layer = 0) => new MstNode(layer, [new Leaf(`app.bsky.feed.post/k${i}`, cidForCbor(new Uint8Array([i])))], true)

test('node cache: drops the nodes not used since the others were', () => {
  const cache = new NodeCache(4)
  const [a, b, c] = [node(0), node(1), node(2)]
  cache.set('a', a)
  cache.set('b', b)
  assert.equal(cache.get('a', 0), a) // used: b is now the least recently used
  cache.set('c', c)
  assert.equal(cache.get('b', 0), undefined, 'b was the least recently used')
  assert.equal(cache.get('a', 0), a)
  assert.equal(cache.get('c', 0), c)
})

test('node cache: never holds more than its capacity, however it is used', () => {
  for (const capacity of [1, 2, 3, 10, 101]) {
    const cache = new NodeCache(capacity)
    let x = 7
    for (let i = 0; i < 2000; i++) {
      x = (x * 48271) % 2147483647
      if (x % 3 === 0) cache.get(`n${x % 300}`, 0)
      else cache.set(`n${x % 300}`, node(x % 300))
      assert.ok(cache.size <= capacity, `${cache.size} > ${capacity}`)
    }
    // The node set last is always there.
    cache.set('last', node(1))
    assert.ok(cache.get('last', 0))
  }
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

test('node cache: delete drops a node from both generations', () => {
  const cache = new NodeCache(6)
  const [a, b, c] = [node(0), node(1), node(2)]
  cache.set('a', a)
  cache.set('b', b)
  cache.set('c', c) // the young generation is full: a, b and c become the old one
  assert.equal(cache.get('a', 0), a) // a is now in both
  cache.delete('a')
  cache.delete('nothing-here')
  assert.equal(cache.get('a', 0), undefined)
  assert.equal(cache.get('b', 0), b)
  assert.equal(cache.get('c', 0), c)
})
