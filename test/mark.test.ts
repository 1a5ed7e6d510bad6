/** Marks and masks are unsigned 32-bit numbers: the top bit must compare, parse and print as such. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { and32, fwmarkSpec, hex, markMatches, parseMark, sameMark, u32 } from '../src/inventory/mark.ts';

test('u32 and and32 never go negative', () => {
  assert.is(u32(-2147483648), 0x80000000);
  assert.is(and32(0x80000000, 0xffffffff), 0x80000000);
  assert.is(and32(0xffffffff, 0xffffffff), 0xffffffff);
});

test('markMatches: the top bit', () => {
  assert.ok(markMatches(0x80000000, 0x80000000, 0x80000000));
  assert.ok(markMatches(0x80000000, 0x80000000));
  assert.ok(markMatches(0x80000001, 0x80000000, 0x80000000));
  assert.not.ok(markMatches(0x1, 0x80000000, 0x80000000));
  assert.ok(markMatches(0x1, 0x1, 0x1));
});

test('parseMark: iptables, ip and nft spellings', () => {
  assert.equal(parseMark('0x80000000/0x80000000'), { value: 0x80000000, mask: 0x80000000 });
  assert.equal(parseMark('0x1'), { value: 1, mask: 0xffffffff });
  assert.equal(parseMark('2147483648'), { value: 0x80000000, mask: 0xffffffff });
  assert.is(parseMark('0x100000000'), undefined);
  assert.is(parseMark('x'), undefined);
  assert.is(parseMark('1/2/3'), undefined);
});

test('hex, fwmarkSpec and sameMark', () => {
  assert.is(hex(-2147483648), '0x80000000');
  assert.is(fwmarkSpec(0x80000000, 0xffffffff), '0x80000000');
  assert.is(fwmarkSpec(0x80000000, -2147483648), '0x80000000/0x80000000');
  assert.ok(sameMark(-2147483648, 0x80000000));
  assert.not.ok(sameMark(undefined, 0));
});

test.run();
