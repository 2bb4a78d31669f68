import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  IngestServiceService,
  PushResponse as PbPushResponse,
  RejectReason,
  StreamResponse as PbStreamResponse,
  type BatchResult as PbBatchResult,
} from '../../proto/gen/aiops/v1/ingest.js';
import { decodeBatch, decodeHello } from './batch-decoder.js';
import type {
  BatchResultOut,
  PushRequestIn,
  PushResponseOut,
  RejectReasonName,
  StreamRequestIn,
  StreamResponseOut,
} from './types.js';
import { WireError, WireReader } from './wire-reader.js';

export { WireError } from './wire-reader.js';
export type * from './types.js';

/**
 * The IngestService definition as the hub serves it. Requests arrive as raw
 * bytes (identity deserializer) so that malformed protobuf becomes a clear
 * INVALID_ARGUMENT from the handler instead of grpc-js's generic INTERNAL,
 * and so the hot path can decode with decodeStreamRequest.
 */
export const ingestServiceDefinition: ServiceDefinition = {
  stream: {
    path: IngestServiceService.stream.path,
    requestStream: true,
    responseStream: true,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
  push: {
    path: IngestServiceService.push.path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

/** Decodes one StreamRequest. Throws WireError on malformed bytes. */
export function decodeStreamRequest(buf: Uint8Array): StreamRequestIn {
  const r = new WireReader(buf);
  let out: StreamRequestIn = { kind: 'empty' };
  while (!r.done()) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) throw new WireError('field number 0 is invalid');
    if ((field === 1 || field === 2) && wt === 2) {
      const e = r.delimitedEnd();
      // oneof: the last member on the wire wins, as in every protobuf runtime.
      out =
        field === 1
          ? { kind: 'hello', hello: decodeHello(buf.subarray(r.pos, e)) }
          : { kind: 'batch', batch: decodeBatch(buf, r.pos, e) };
      r.pos = e;
    } else {
      r.skip(wt);
    }
  }
  return out;
}

/** Decodes one PushRequest. Throws WireError on malformed bytes. */
export function decodePushRequest(buf: Uint8Array): PushRequestIn {
  const r = new WireReader(buf);
  let hello: PushRequestIn['hello'];
  let batch: PushRequestIn['batch'];
  while (!r.done()) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) throw new WireError('field number 0 is invalid');
    if (field === 1 && wt === 2) {
      const e = r.delimitedEnd();
      hello = decodeHello(buf.subarray(r.pos, e));
      r.pos = e;
    } else if (field === 2 && wt === 2) {
      const e = r.delimitedEnd();
      batch = decodeBatch(buf, r.pos, e);
      r.pos = e;
    } else {
      r.skip(wt);
    }
  }
  return { hello, batch };
}

const REASONS: Record<RejectReasonName, RejectReason> = {
  non_finite_value: RejectReason.REJECT_REASON_NON_FINITE_VALUE,
  timestamp_too_old: RejectReason.REJECT_REASON_TIMESTAMP_TOO_OLD,
  timestamp_in_future: RejectReason.REJECT_REASON_TIMESTAMP_IN_FUTURE,
  unknown_series_ref: RejectReason.REJECT_REASON_UNKNOWN_SERIES_REF,
  invalid_series: RejectReason.REJECT_REASON_INVALID_SERIES,
  too_many_series: RejectReason.REJECT_REASON_TOO_MANY_SERIES,
  too_many_labels: RejectReason.REJECT_REASON_TOO_MANY_LABELS,
  label_too_long: RejectReason.REJECT_REASON_LABEL_TOO_LONG,
  mismatched_lengths: RejectReason.REJECT_REASON_MISMATCHED_LENGTHS,
  invalid_event: RejectReason.REJECT_REASON_INVALID_EVENT,
  invalid_inventory: RejectReason.REJECT_REASON_INVALID_INVENTORY,
};

/** All reason names, in proto enum order (for metrics and docs). */
export const REJECT_REASON_NAMES = Object.keys(REASONS) as RejectReasonName[];

function batchResultPb(r: BatchResultOut): PbBatchResult {
  return {
    samplesStored: r.samplesStored,
    eventsStored: r.eventsStored,
    inventoryStored: r.inventoryStored,
    rejections: r.rejections.map((x) => ({ reason: REASONS[x.reason], count: x.count, example: x.example })),
  };
}

export function encodeStreamResponse(msg: StreamResponseOut): Buffer {
  let pb: PbStreamResponse;
  switch (msg.kind) {
    case 'welcome':
      pb = {
        msg: {
          $case: 'welcome',
          welcome: {
            lastAckedSequence: msg.lastAckedSequence,
            window: msg.window,
            limits: { ...msg.limits },
            config: { collectors: msg.collectors.map((c) => ({ ...c })) },
          },
        },
      };
      break;
    case 'ack':
      pb = {
        msg: {
          $case: 'ack',
          ack: {
            sequence: msg.sequence,
            window: msg.window,
            result: batchResultPb(msg.result),
            duplicate: msg.duplicate,
          },
        },
      };
      break;
    case 'config':
      pb = { msg: { $case: 'config', config: { collectors: msg.collectors.map((c) => ({ ...c })) } } };
      break;
  }
  return Buffer.from(PbStreamResponse.encode(pb).finish());
}

export function encodePushResponse(msg: PushResponseOut): Buffer {
  return Buffer.from(
    PbPushResponse.encode({
      ackedSequence: msg.ackedSequence,
      result: batchResultPb(msg.result),
      duplicate: msg.duplicate,
    }).finish(),
  );
}
