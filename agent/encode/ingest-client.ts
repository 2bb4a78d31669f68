/**
 * The gRPC client side of the ingest contract, re-exported so the sender
 * does not import proto/gen itself (only agent/encode touches generated code).
 */
export {
  IngestServiceClient,
  StreamRequest,
  StreamResponse,
  RejectReason,
  rejectReasonToJSON,
  type Ack,
  type AgentConfig,
  type Batch,
  type CollectorConfig,
  type Hello,
  type Limits,
  type Welcome,
} from '../../proto/gen/aiops/v1/ingest.js';
