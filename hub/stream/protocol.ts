import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * The stream's message schema (docs/streaming.md is its prose form). Client
 * messages are JSON text frames validated against these TypeBox schemas;
 * server messages are built by hand (outbox.ts) for speed and match the
 * types below.
 */

/** Application subprotocol; a client that offers subprotocols must offer this one. */
export const STREAM_SUBPROTOCOL = 'aiops.stream.v1';

/** Close codes the server uses (docs/streaming.md, "Close codes"). */
export const CloseCode = {
  /** Server shutting down. */
  goingAway: 1001,
  /** Too many bad messages in the window. */
  policyViolation: 1008,
  /** Frame above hardMaxMessageBytes (sent by ws itself). */
  messageTooBig: 1009,
  /** The credential's expiry time passed. */
  tokenExpired: 4001,
  /** Re-authentication failed: the credential was revoked or is no longer valid. */
  credentialsRevoked: 4003,
  /** Over maxBufferedBytes longer than slowConsumerGraceMs. */
  slowConsumer: 4008,
} as const;

const Name = Type.String({ minLength: 1, maxLength: 256 });

export const LabelMatcherSchema = Type.Object(
  {
    name: Name,
    op: Type.Union([Type.Literal('='), Type.Literal('!='), Type.Literal('=~'), Type.Literal('!~')]),
    value: Type.String({ maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const SelectorSchema = Type.Object(
  {
    cluster: Type.Optional(Name),
    node: Type.Optional(Name),
    source: Type.Optional(Name),
    entity: Type.Optional(Name),
    metric: Type.Optional(Name),
    /** Events only: event kind. */
    kind: Type.Optional(Name),
    /** Events only: lowest severity delivered. */
    minSeverity: Type.Optional(
      Type.Union([
        Type.Literal('info'),
        Type.Literal('warning'),
        Type.Literal('error'),
        Type.Literal('critical'),
      ]),
    ),
    /** Series labels (samples, anomalies) or event attributes (events). */
    matchers: Type.Optional(Type.Array(LabelMatcherSchema, { maxItems: 16 })),
  },
  { additionalProperties: false },
);

export const SubscribeSchema = Type.Object(
  {
    type: Type.Literal('subscribe'),
    id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' }),
    stream: Type.Union([Type.Literal('samples'), Type.Literal('events'), Type.Literal('anomalies')]),
    selector: SelectorSchema,
    /** Samples only: most points per second per series (capped by the server's maxRateHz). */
    maxRateHz: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** Samples only: how points within one interval are reduced. */
    aggregation: Type.Optional(Type.Union([Type.Literal('latest'), Type.Literal('avg')])),
  },
  { additionalProperties: false },
);

export const UnsubscribeSchema = Type.Object(
  { type: Type.Literal('unsubscribe'), id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const PingSchema = Type.Object(
  { type: Type.Literal('ping'), id: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);

export type Selector = Static<typeof SelectorSchema>;
export type SubscribeMessage = Static<typeof SubscribeSchema>;
export type UnsubscribeMessage = Static<typeof UnsubscribeSchema>;
export type PingMessage = Static<typeof PingSchema>;
export type ClientMessage = SubscribeMessage | UnsubscribeMessage | PingMessage;
export type StreamKind = SubscribeMessage['stream'];

/** Error codes of `{"type":"error"}` messages. */
export type StreamErrorCode =
  | 'invalid_json'
  | 'invalid_message'
  | 'unknown_type'
  | 'message_too_large'
  | 'forbidden'
  | 'duplicate_subscription'
  | 'unknown_subscription'
  | 'too_many_subscriptions'
  | 'too_many_series'
  | 'unavailable';

export interface AckMessage {
  readonly type: 'ack';
  readonly op: 'subscribe' | 'unsubscribe';
  readonly id: string;
  /** Subscribe only: the clusters RBAC lets this subscription see. */
  readonly clusters?: '*' | readonly string[];
  readonly intervalMs?: number;
  readonly aggregation?: 'latest' | 'avg';
}

export interface ErrorMessage {
  readonly type: 'error';
  readonly code: StreamErrorCode;
  readonly message: string;
  /** The subscription concerned, when there is one. */
  readonly id?: string;
}

const validators = {
  subscribe: TypeCompiler.Compile(SubscribeSchema),
  unsubscribe: TypeCompiler.Compile(UnsubscribeSchema),
  ping: TypeCompiler.Compile(PingSchema),
};

export type ParseResult =
  | { readonly ok: true; readonly message: ClientMessage }
  | { readonly ok: false; readonly error: ErrorMessage };

/** Validates one client text frame; never throws. */
export function parseClientMessage(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('invalid_json', 'message is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('invalid_message', 'message must be a JSON object');
  }
  const type = (value as { type?: unknown }).type;
  if (type !== 'subscribe' && type !== 'unsubscribe' && type !== 'ping') {
    return fail('unknown_type', `unknown message type ${JSON.stringify(type ?? null).slice(0, 64)}`);
  }
  const validator = validators[type];
  if (!validator.Check(value)) {
    const first = validator.Errors(value).First();
    const where = first?.path || '/';
    const id = (value as { id?: unknown }).id;
    return fail(
      'invalid_message',
      `${type}: ${where}: ${first?.message ?? 'invalid'}`,
      typeof id === 'string' ? id.slice(0, 64) : undefined,
    );
  }
  return { ok: true, message: value as ClientMessage };
}

function fail(code: StreamErrorCode, message: string, id?: string): ParseResult {
  return {
    ok: false,
    error: id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id },
  };
}
