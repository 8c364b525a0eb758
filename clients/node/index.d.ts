// Type declarations of mq-client (the package is plain JavaScript; the test
// suite checks these with tsc --noEmit against test/types.ts).
import { EventEmitter } from 'events';
import { ClientConfig, QueryResult, QueryResultRow, Client as PgClient } from 'pg';

/** Durations are numbers of seconds throughout. */
export type Seconds = number;
/** A message id: bigint in SQL, a string of digits here (bigints exceed Number's range). */
export type MsgId = string;
/** A JSON value (sent as the body), a Buffer (a payload) or a string (a text/plain; charset=utf-8 payload). */
export type Body = Buffer | Uint8Array | string | number | boolean | null | JsonObject | JsonValue[];
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject { [key: string]: JsonValue | undefined }

export interface ClientOptions extends ClientConfig {
  /** Hosts to try in order ("h:5432" or partial configs merged over this one). A multi-host connectionString works too. */
  hosts?: Array<string | ClientConfig>;
  /** Connections of the client's pool (workers, consumers and the reply listener have their own). Default 10. */
  poolSize?: number;
  /** Reconnect backoff: first delay, largest delay and how long to keep trying (seconds). Defaults 0.1, 5, 30. */
  reconnect?: { base?: Seconds; max?: Seconds; timeout?: Seconds };
  /** 'read-write' (default): skip servers where transaction_read_only is on; 'any': take any. */
  targetSessionAttrs?: 'read-write' | 'any';
  /** Give every send a dedup key and retry it after a lost connection (default true). */
  idempotentSends?: boolean;
  /** Run mq's calls as named prepared statements (default true; false behind PgBouncer before 1.21 in transaction mode). */
  prepare?: boolean;
}

export interface SendOptions {
  headers?: JsonObject;
  delay?: Seconds;
  priority?: number;
  dedupKey?: string;
  groupKey?: string;
  ttl?: Seconds;
  correlationId?: string;
  replyTo?: string;
  /** For Buffer and string bodies only; defaults application/octet-stream and text/plain; charset=utf-8. */
  contentType?: string;
  contentEncoding?: string;
}

export interface PublishOptions extends SendOptions { mandatory?: boolean }

export interface BatchOptions {
  delay?: Seconds;
  priority?: number;
  ttl?: Seconds;
  replyTo?: string;
  contentType?: string;
  contentEncoding?: string;
  /** Per message, one entry each. */
  headers?: Array<JsonObject | null>;
  dedupKeys?: Array<string | null>;
  groupKeys?: Array<string | null>;
  correlationIds?: Array<string | null>;
}

export interface AppendOptions {
  key?: string;
  headers?: JsonObject;
  contentType?: string;
  contentEncoding?: string;
  correlationId?: string;
  replyTo?: string;
}

export interface AppendBatchOptions {
  keys?: Array<string | null>;
  headers?: Array<JsonObject | null>;
  correlationIds?: Array<string | null>;
  contentType?: string;
  contentEncoding?: string;
  replyTo?: string;
}

export interface ReadOptions { qty?: number; visibilityTimeout?: Seconds; wait?: Seconds }

export interface Message {
  queue: string;
  msgId: MsgId;
  readCt: number;
  enqueuedAt: Date;
  vt: Date;
  priority: number;
  groupKey: string | null;
  dedupKey: string | null;
  headers: JsonObject;
  /** The decoded JSON body; null for a payload. */
  body: any;
  /** The bytes of a payload; null for a JSON body. */
  payload: Buffer | null;
  /** For a text/* content type, the payload decoded with its charset (UTF-8 by default); else null. */
  text: string | null;
  contentType: string | null;
  contentEncoding: string | null;
  correlationId: string | null;
  replyTo: string | null;
  expiresAt: Date | null;
  sentBy: string | null;
}

export interface StreamRecord {
  stream: string;
  partition: number;
  /** bigint in SQL, a string here. */
  position: string;
  key: string | null;
  headers: JsonObject;
  body: any;
  payload: Buffer | null;
  text: string | null;
  contentType: string | null;
  contentEncoding: string | null;
  correlationId: string | null;
  replyTo: string | null;
  appendedAt: Date;
  sentBy: string | null;
}

export interface StreamPosition { partition: number; position: string }

export interface QueueOptions {
  visibilityTimeout?: Seconds; maxReceives?: number; deadLetterQueue?: string; messageTtl?: Seconds;
  maxLength?: number; overflow?: 'reject_publish' | 'drop_head' | string; fifo?: boolean; dedupWindow?: Seconds;
  archive?: boolean; retention?: Seconds; unlogged?: boolean; notify?: boolean; fair?: boolean;
  groupConcurrency?: number; rateLimit?: number; rateInterval?: Seconds; groupRateLimit?: number;
  durability?: 'local' | 'replicated'; minReplicas?: number;
}

export interface StreamOptions {
  partitions?: number; retention?: Seconds; retentionBytes?: number; unlogged?: boolean;
  durability?: 'local' | 'replicated'; minReplicas?: number;
}

export interface RetryOptions { base?: Seconds; factor?: number; max?: Seconds; jitter?: boolean }

/** The calls available inside a transaction (client.transaction, transactional workers, stream consumers). */
export interface Tx {
  query<R extends QueryResultRow = any>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  send(queue: string, body: Body, options?: SendOptions): Promise<MsgId>;
  publish(exchange: string, routingKey: string, body: Body, options?: PublishOptions): Promise<number>;
  append(stream: string, body: Body, options?: AppendOptions): Promise<StreamPosition>;
}

export class Transaction implements Tx {
  readonly connection: PgClient;
  query<R extends QueryResultRow = any>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  send(queue: string, body: Body, options?: SendOptions): Promise<MsgId>;
  sendBatch(queue: string, bodies: Body[], options?: BatchOptions): Promise<MsgId[]>;
  publish(exchange: string, routingKey: string, body: Body, options?: PublishOptions): Promise<number>;
  append(stream: string, body: Body, options?: AppendOptions): Promise<StreamPosition>;
  appendBatch(stream: string, bodies: Body[], options?: AppendBatchOptions): Promise<StreamPosition[]>;
  read(queue: string, options?: ReadOptions): Promise<Message[]>;
  ack(queue: string, msgId: MsgId | bigint | number): Promise<boolean>;
  nack(queue: string, msgId: MsgId | bigint | number, options?: { delay?: Seconds }): Promise<boolean>;
}

export interface WorkOptions {
  /** Handlers running at once, each loop on its own connection. Default 1. */
  concurrency?: number;
  /** Messages per read. Default 1. */
  batchSize?: number;
  /** The lease of each read (seconds). Default 30. */
  visibilityTimeout?: Seconds;
  /** How long a read blocks when the queue is empty (seconds). Default 2. */
  wait?: Seconds;
  /** Extend the lease every extendAt x visibilityTimeout while a handler runs. Default 0.5. */
  extendAt?: number;
  /** Backoff of the nack after a handler threw: base * factor^(readCt-1), at most max, jittered. Defaults 1, 2, 300, true. */
  retry?: RetryOptions;
  /** Each batch in one transaction with the handler's writes (handler(message, tx)). Default false. */
  transaction?: boolean;
  /** After stop(), how long running handlers may take before their messages are given back. Default 30. */
  shutdownTimeout?: Seconds;
  /** Stop on SIGTERM and SIGINT. Default true. */
  handleSignals?: boolean;
}

export interface Worker {
  readonly queue: string;
  /** Resolves when the worker has stopped. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /** This member's name in the group (unique in it). Default host-pid-random. */
  consumer?: string;
  /** Records per poll. Default 100. */
  max?: number;
  wait?: Seconds;
  /** Default 30: poll at least this often or lose the partitions. */
  sessionTimeout?: Seconds;
  /** handler(records[], tx) once per poll instead of handler(record, tx) per record. */
  batch?: boolean;
  retry?: RetryOptions;
  handleSignals?: boolean;
}

export interface StreamConsumer {
  readonly consumer: string;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export interface ProducerOptions {
  /** Messages per mq.send_batch statement. Default 500. */
  maxBatch?: number;
  /** Messages awaiting their confirm above which writable is false. Default 10,000. */
  highWaterMark?: number;
  /** Statements in flight at once, each on a connection of the client's pool. Default 1. */
  connections?: number;
  delay?: Seconds; priority?: number; ttl?: Seconds; replyTo?: string; contentEncoding?: string;
}

export interface ProducerSendOptions {
  headers?: JsonObject; dedupKey?: string; groupKey?: string; correlationId?: string; contentType?: string;
}

export declare class Producer extends EventEmitter {
  readonly queue: string;
  readonly pending: number;
  readonly writable: boolean;
  readonly done: Promise<void>;
  /** Resolves with the msgId once the message's transaction has committed. */
  send(body: Body, options?: ProducerSendOptions): Promise<MsgId>;
  drained(): Promise<void>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export interface Counters {
  sent: number; delivered: number; acked: number; failed: number; nacked: number; leaseExtended: number;
  leaseLost: number; retries: number; reconnects: number; connectionErrors: number; committed: number; replies: number;
}

export interface ClientEvents {
  delivery: [message: Message | StreamRecord];
  ack: [message: Message];
  failure: [message: Message, error: unknown, delaySeconds: number];
  release: [message: Message];
  leaseExtended: [message: Message, vt: Date];
  leaseLost: [message: Message];
  retry: [info: { what: string; attempt: number; error: unknown }];
  reconnecting: [info: { attempt: number; error: unknown }];
  reconnect: [info: { host?: string; port?: number }];
  connectionError: [error: Error];
  rebalance: [info: { consumer: string; error: Error }];
  commit: [info: { consumer: string; positions: Record<number, number> }];
  workerError: [error: unknown];
  signal: [signal: 'SIGTERM' | 'SIGINT'];
}

export declare class Client extends EventEmitter {
  constructor(config?: string | ClientOptions);
  readonly counters: Counters;
  connect(): Promise<this>;
  end(): Promise<void>;
  query<R extends QueryResultRow = any>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;

  createQueue(queue: string, options?: QueueOptions): Promise<void>;
  alterQueue(queue: string, options: QueueOptions): Promise<void>;
  dropQueue(queue: string, options?: { ifExists?: boolean }): Promise<boolean>;
  purgeQueue(queue: string): Promise<number>;
  metrics(queue: string): Promise<Record<string, any>>;
  createExchange(exchange: string, options?: { type?: 'direct' | 'fanout' | 'topic' | 'headers'; alternateExchange?: string }): Promise<void>;
  dropExchange(exchange: string, options?: { ifExists?: boolean; cascade?: boolean }): Promise<boolean>;
  bind(exchange: string, queue: string, bindingKey?: string, args?: JsonObject): Promise<boolean>;
  unbind(exchange: string, queue: string, bindingKey?: string, args?: JsonObject): Promise<boolean>;
  bindExchange(source: string, destination: string, bindingKey?: string, args?: JsonObject): Promise<boolean>;
  createStream(stream: string, options?: StreamOptions): Promise<void>;
  dropStream(stream: string, options?: { ifExists?: boolean }): Promise<boolean>;
  createConsumerGroup(stream: string, group: string, options?: { start?: 'earliest' | 'latest' | string | Date }): Promise<void>;
  dropConsumerGroup(stream: string, group: string): Promise<boolean>;

  send(queue: string, body: Body, options?: SendOptions): Promise<MsgId>;
  sendBatch(queue: string, bodies: Body[], options?: BatchOptions): Promise<MsgId[]>;
  publish(exchange: string, routingKey: string, body: Body, options?: PublishOptions): Promise<number>;
  append(stream: string, body: Body, options?: AppendOptions): Promise<StreamPosition>;
  appendBatch(stream: string, bodies: Body[], options?: AppendBatchOptions): Promise<StreamPosition[]>;
  read(queue: string, options?: ReadOptions): Promise<Message[]>;
  pop(queue: string, options?: { qty?: number }): Promise<Message[]>;
  ack(queue: string, msgId: MsgId | bigint | number): Promise<boolean>;
  ackBatch(queue: string, msgIds: Array<MsgId | bigint | number>): Promise<MsgId[]>;
  nack(queue: string, msgId: MsgId | bigint | number, options?: { delay?: Seconds }): Promise<boolean>;
  setVt(queue: string, msgId: MsgId | bigint | number, visibilityTimeout: Seconds): Promise<Date | null>;
  archive(queue: string, msgId: MsgId | bigint | number): Promise<boolean>;

  work(queue: string, handler: (message: Message, tx?: Tx) => unknown | Promise<unknown>, options?: WorkOptions): Worker;
  serve(queue: string, handler: (request: Message, tx?: Tx) => Body | undefined | Promise<Body | undefined>, options?: WorkOptions): Worker;
  request(queue: string, body: Body, options?: SendOptions & { timeout?: Seconds }): Promise<Message>;
  consume(stream: string, group: string, handler: (record: StreamRecord, tx: Tx) => unknown | Promise<unknown>, options?: ConsumeOptions): StreamConsumer;
  consume(stream: string, group: string, handler: (records: StreamRecord[], tx: Tx) => unknown | Promise<unknown>, options: ConsumeOptions & { batch: true }): StreamConsumer;
  producer(queue: string, options?: ProducerOptions): Producer;

  on<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
  once<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
}

export declare class MqError extends Error {}
export declare class TimeoutError extends MqError {}
export declare class ClosedError extends MqError {}
export declare const TEXT_TYPE: 'text/plain; charset=utf-8';
export declare const BYTES_TYPE: 'application/octet-stream';
/** The backoff of a retry (seconds). */
export declare function backoff(attempt: number, options?: RetryOptions): number;
