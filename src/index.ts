/**
 * setkey as a library: the setkey(8) language, the neutral model of SAs and
 * policies, and PF_KEY v2 encoding/decoding.
 */
export * from './model/address.js';
export * from './model/algorithms.js';
export type * from './model/command.js';
export type * from './model/policy.js';
export type * from './model/sa.js';
export * from './model/tables.js';
export { withForwardCopies, forwardCopy } from './model/rfc-mode.js';
export { parse, type ParseOptions, type ParseResult, type Statement } from './syntax/parser.js';
export { formatDiagnostic, type Diagnostic } from './syntax/diagnostics.js';
export { resolveStatements, type Lookup } from './syntax/resolve.js';
export { makeSystemDb, parseProtocols, parseServices, type SystemDb } from './syntax/sysdb.js';
export { commandToWire, EncodeError, type WireOptions } from './pfkey/to-wire.js';
export { wireToCommand, saOf, ruleOf, selectorOf } from './pfkey/from-wire.js';
export { serialize } from './pfkey/serialize.js';
export { decodeMessage, indexMessage, checkMessage, readExt, splitMessages, DecodeError } from './pfkey/decode.js';
export type * from './pfkey/types.js';
export { hexdump } from './format/hexdump.js';
export { commandToScript, policyText, ScriptError } from './format/script.js';
export type { Backend, BackendName, Capabilities, Exchange, Observed, Outcome, RunOptions } from './backends/backend.js';
export { EmbeddedBackend } from './backends/embedded.js';
export { chooseBackend, defaultStorePath, openBackend } from './backends/select.js';
export { Engine, type EngineOptions, type Reply, type Session } from './engine/engine.js';
export { Store, StoreError } from './engine/store.js';
export { XfrmBackend } from './backends/xfrm.js';
export { PfkeyBackend } from './backends/pfkey.js';
export { readState, stateOfMessages, type SyncState, type SaEntry, type PolicyEntry } from './converge/state.js';
export { declaredState, declaredStateOf, DeclareError, type DeclareOptions } from './converge/declare.js';
export { planSync, planRequests, saIdentity, policyIdentity, type Plan, type PlanOptions, type Step, type StepKind } from './converge/plan.js';
export { applyPlan, type Applied } from './converge/apply.js';
export { planText, planJson, entryName } from './converge/print.js';
export { stateText, stateJson, stateScriptText, type StatePrintOptions } from './converge/render.js';
