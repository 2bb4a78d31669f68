import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { bearerProtocol, extractCredentials, selectStreamProtocol } from './credentials.js';

describe('extractCredentials', () => {
  it('reads a bearer token from the Authorization header', () => {
    expect(extractCredentials({ authorization: 'Bearer abc.def' }, '/api/v1/stream')).toEqual({
      bearerToken: 'abc.def',
    });
    expect(() => extractCredentials({ authorization: 'Basic eA==' }, '/x')).toThrow(InputError);
  });

  it('reads a Kubernetes-style base64url bearer subprotocol', () => {
    const token = 'eyJhbGciOi.J9+/=';
    const header = `aiops.stream.v1, ${bearerProtocol(token)}`;
    expect(header).toContain('base64url.bearer.authorization.k8s.io.');
    expect(extractCredentials({ 'sec-websocket-protocol': header }, '/x')).toEqual({ bearerToken: token });
    expect(() =>
      extractCredentials({ 'sec-websocket-protocol': 'base64url.bearer.authorization.k8s.io.a=b' }, '/x'),
    ).toThrow(/unpadded base64url/);
  });

  it('refuses credentials in the query string even beside a valid header', () => {
    expect(() => extractCredentials({ authorization: 'Bearer t' }, '/s?access_token=t')).toThrow(
      /query string/,
    );
    expect(extractCredentials({}, '/s?x=1')).toEqual({});
  });

  it('selects the application subprotocol, never the token-bearing one', () => {
    expect(selectStreamProtocol(new Set([bearerProtocol('t'), 'aiops.stream.v1']))).toBe('aiops.stream.v1');
    expect(selectStreamProtocol(new Set([bearerProtocol('t')]))).toBe(false);
  });
});
