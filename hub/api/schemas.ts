import { Type, type Static } from '@fastify/type-provider-typebox';

/** Shared TypeBox schemas: each is the validator, the serializer and the OpenAPI entry of its shape. */

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);

export const problemResponses = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
} as const;

const Labels = Type.Record(Type.String(), Type.String());

export const SeriesSchema = Type.Object({
  id: Type.Integer(),
  cluster: Type.String(),
  node: Type.String(),
  source: Type.String(),
  entity: Type.String(),
  metric: Type.String(),
  labels: Labels,
  kind: Type.Union([Type.Literal('gauge'), Type.Literal('counter')]),
});

export const SelectorQuery = {
  cluster: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  node: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  entity: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  metric: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  match: Type.Optional(
    Type.Array(Type.String({ maxLength: 512 }), {
      maxItems: 16,
      description: 'Label matchers: name="v", name!="v", name=~"re", name!~"re" (repeatable)',
    }),
  ),
};

export const Severity = Type.Union([
  Type.Literal('info'),
  Type.Literal('warning'),
  Type.Literal('error'),
  Type.Literal('critical'),
]);

export const EventSchema = Type.Object({
  cluster: Type.String(),
  node: Type.String(),
  timestampMs: Type.Number(),
  kind: Type.String(),
  severity: Severity,
  source: Type.String(),
  entity: Type.String(),
  message: Type.String(),
  attributes: Labels,
});

export const InventorySchema = Type.Object({
  cluster: Type.String(),
  node: Type.String(),
  observedMs: Type.Number(),
  source: Type.String(),
  entity: Type.String(),
  kind: Type.String(),
  attributes: Labels,
  absent: Type.Boolean(),
  absentReason: Type.String(),
});

export type SeriesJson = Static<typeof SeriesSchema>;
