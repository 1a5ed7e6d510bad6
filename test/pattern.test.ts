/** --limit with Ansible's pattern forms (issue #16, item 2). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expandRange, groupsOf, selectPattern, splitPattern } from '../src/inventory/pattern.ts';
import type { Host } from '../src/inventory/types.ts';

const host = (name: string, kind: 'router' | 'bridge' = 'router') => ({ name, kind, address: '198.18.0.1' }) as unknown as Host;
const HOSTS = [host('h1'), host('h2'), host('h3'), host('h10'), host('b1', 'bridge'), host('web01'), host('web02')];
const groups = groupsOf(HOSTS, { edge: ['h1', 'h3', 'b1'], core: ['h2'] });
const sel = (limit: string) => {
  const r = selectPattern(HOSTS, limit, groups);
  return r.errors.length ? r.errors : r.hosts.map((h) => h.name);
};

test('split on : and , but not inside a range', () => {
  assert.equal(splitPattern('h1:h2,!h3'), ['h1', 'h2', '!h3']);
  assert.equal(splitPattern('h[1:3]:&edge'), ['h[1:3]', '&edge']);
});

test('ranges: numbers, widths, letters, steps', () => {
  assert.equal(expandRange('h[1:3]'), ['h1', 'h2', 'h3']);
  assert.equal(expandRange('web[01:02]'), ['web01', 'web02']);
  assert.equal(expandRange('[a:c]x'), ['ax', 'bx', 'cx']);
  assert.equal(expandRange('h[1:9:4]'), ['h1', 'h5', 'h9']);
  assert.is(expandRange('h[12]'), undefined);
});

test('the forms: union, exclusion, intersection, globs, classes, ranges, groups, slices, regex; inventory order kept', () => {
  assert.equal(sel('h2:h1'), ['h1', 'h2']);
  assert.equal(sel('h1,h2'), ['h1', 'h2']);
  assert.equal(sel('!h1'), ['h2', 'h3', 'h10', 'b1', 'web01', 'web02']);
  assert.equal(sel('h[12]'), ['h1', 'h2']);
  assert.equal(sel('h[1:3]'), ['h1', 'h2', 'h3']);
  assert.equal(sel('h*:!h1*'), ['h2', 'h3']);
  assert.equal(sel('all:&edge:!b1'), ['h1', 'h3']);
  assert.equal(sel('routers:&edge'), ['h1', 'h3']);
  assert.equal(sel('bridges'), ['b1']);
  assert.equal(sel('web0?'), ['web01', 'web02']);
  assert.equal(sel('h[!1]'), ['h2', 'h3']);
  assert.equal(sel('routers[0:1]'), ['h1', 'h2']);
  assert.equal(sel('routers[-1]'), ['web02']);
  assert.equal(sel('~^h\\d$'), ['h1', 'h2', 'h3']);
  assert.equal(sel('edge:core'), ['h1', 'h2', 'h3', 'b1']);
});

test('a term that matches nothing is an error naming it, even beside terms that match', () => {
  assert.equal(sel('h1,nosuch'), ['--limit: "nosuch" matches no host or group']);
  assert.equal(sel('h1:!zz*'), ['--limit: "!zz*" matches no host or group']);
  assert.equal(sel('h[4:5]'), ['--limit: "h[4:5]" matches no host or group']);
  assert.match(String(sel('~(')), /is not a regular expression/);
  // Catastrophic backtracking is refused before it runs (it hung the run on a long name).
  assert.match(String(sel('~^(a+)+$')), /can take exponential time to match/);
  assert.equal(selectPattern(HOSTS, undefined, groups).hosts.length, HOSTS.length);
});

test.run();
