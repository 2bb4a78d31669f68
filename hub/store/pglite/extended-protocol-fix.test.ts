import { describe, expect, it } from 'vitest';
import { dropReadyAfterError, fixExtendedProtocolErrors } from './extended-protocol-fix.js';

const msg = (type: string, body = Buffer.alloc(0)) => {
  const b = Buffer.alloc(5 + body.length);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
};

describe('dropReadyAfterError', () => {
  it('keeps a reply without error untouched', () => {
    const reply = Buffer.concat([msg('1'), msg('Z', Buffer.from('I'))]);
    expect(dropReadyAfterError(reply)).toEqual({ bytes: reply, sawError: false });
  });
  it('drops the ReadyForQuery that follows an ErrorResponse', () => {
    const err = msg('E', Buffer.from('SERROR\0\0'));
    const out = dropReadyAfterError(Buffer.concat([err, msg('Z', Buffer.from('I'))]));
    expect(out).toEqual({ bytes: err, sawError: true });
  });
});

describe('fixExtendedProtocolErrors', () => {
  it('swallows messages after a failed Parse until Sync, like PostgreSQL', async () => {
    const seen: string[] = [];
    const db = {
      execProtocolRawStream: async (m: Uint8Array, o: { onRawData?: (d: Uint8Array) => void }) => {
        const t = String.fromCharCode(m[0] as number);
        seen.push(t);
        if (t === 'P')
          o.onRawData?.(Buffer.concat([msg('E', Buffer.from('SERROR\0\0')), msg('Z', Buffer.from('I'))]));
        if (t === 'S') o.onRawData?.(msg('Z', Buffer.from('I')));
      },
    };
    fixExtendedProtocolErrors(db);
    const out: string[] = [];
    for (const t of ['P', 'B', 'E', 'S']) {
      await db.execProtocolRawStream(msg(t), {
        onRawData: (d) => out.push(String.fromCharCode(d[0] as number)),
      });
    }
    expect(seen).toEqual(['P', 'S']);
    expect(out).toEqual(['E', 'Z']);
  });
});
