import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, escapeXml } from './escape.js';

test('escapeXml makes text safe in an element and in either kind of attribute quotes', () => {
  assert.equal(escapeXml(`<a href="x">Tom & Jerry's</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;');
  assert.equal(escapeXml('&amp;'), '&amp;amp;');
  assert.equal(escapeHtml('p99 < 5s'), 'p99 &lt; 5s');
});
