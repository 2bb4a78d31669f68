import { describe, expect, it } from 'vitest';
import { parseClientMessage } from './protocol.js';

describe('parseClientMessage', () => {
  it('accepts a valid subscribe', () => {
    const r = parseClientMessage(
      JSON.stringify({
        type: 'subscribe',
        id: 'gpu-temps',
        stream: 'samples',
        selector: { cluster: 'c1', matchers: [{ name: 'gpu', op: '=~', value: '0|1' }] },
        maxRateHz: 1,
        aggregation: 'avg',
      }),
    );
    expect(r.ok).toBe(true);
  });

  it.each([
    ['{x', 'invalid_json'],
    ['"str"', 'invalid_message'],
    ['{"type":"nope"}', 'unknown_type'],
    ['{"type":"subscribe","id":"a b","stream":"samples","selector":{}}', 'invalid_message'],
    ['{"type":"subscribe","id":"a","stream":"logs","selector":{}}', 'invalid_message'],
    ['{"type":"subscribe","id":"a","stream":"samples","selector":{"extra":1}}', 'invalid_message'],
    ['{"type":"subscribe","id":"a","stream":"samples","selector":{},"maxRateHz":0}', 'invalid_message'],
    ['{"type":"unsubscribe"}', 'invalid_message'],
  ])('answers %s with %s', (text, code) => {
    const r = parseClientMessage(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(code);
  });

  it('names the offending field and echoes the subscription id', () => {
    const r = parseClientMessage('{"type":"subscribe","id":"s1","stream":"samples","selector":{"node":7}}');
    expect(r).toMatchObject({
      ok: false,
      error: { id: 's1', message: expect.stringContaining('/selector/node') },
    });
  });
});
